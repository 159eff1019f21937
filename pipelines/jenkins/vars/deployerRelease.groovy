// deployerRelease: release an image to an ECS service with deployer, from a Jenkins pipeline.
// Runs the deployer command line, reads its JSON report, archives it, and maps deployer's exit
// code to the build result and description. Arguments reach the shell only through the
// environment, never through Groovy string interpolation. Help: deployerRelease.txt.

import groovy.transform.Field

// deployer exit code -> [build result, description]; `deployer` documents the codes (README).
@Field
static final Map<Integer, List<String>> OUTCOMES = [
    0  : ['SUCCESS', 'released'],
    1  : ['FAILURE', 'unexpected error'],
    2  : ['FAILURE', 'bad usage or config, nothing changed'],
    3  : ['UNSTABLE', 'rolled back, the previous version serves'],
    4  : ['FAILURE', 'rollback failed or state inconsistent'],
    5  : ['FAILURE', 'timed out, state unknown'],
    6  : ['NOT_BUILT', 'locked by another release'],
    130: ['ABORTED', 'interrupted, traffic restored'],
]

@Field
static final List<String> OPTIONAL_FLAGS = ['strategy', 'steps', 'bake', 'maxFiveXxRate', 'maxP99Ms']

Map call(Map args = [:]) {
    String service = args.service ?: error('deployerRelease: `service` is required')
    String image = args.image ?: error('deployerRelease: `image` is required')
    String report = "deployer-${service}-${env.BUILD_NUMBER ?: 'local'}.json"
    List<String> environment = [
        "DEPLOYER_SERVICE=${service}",
        "DEPLOYER_IMAGE=${image}",
        "DEPLOYER_CONFIG=${args.config ?: env.DEPLOYER_CONFIG ?: 'deployer.yaml'}",
        "DEPLOYER_REPORT=${report}",
        "DEPLOYER_POLL=${args.poll ?: '10s'}",
    ]
    OPTIONAL_FLAGS.each { name -> environment << "DEPLOYER_OPT_${name}=${args[name] ?: ''}" }

    int code
    withEnv(environment) {
        code = sh(returnStatus: true, label: "deployer release ${service}", script: '''
            set -u
            set -- release "$DEPLOYER_SERVICE" --image "$DEPLOYER_IMAGE" --poll "$DEPLOYER_POLL"
            [ -z "$DEPLOYER_OPT_strategy" ] || set -- "$@" --strategy "$DEPLOYER_OPT_strategy"
            [ -z "$DEPLOYER_OPT_steps" ] || set -- "$@" --steps "$DEPLOYER_OPT_steps"
            [ -z "$DEPLOYER_OPT_bake" ] || set -- "$@" --bake "$DEPLOYER_OPT_bake"
            [ -z "$DEPLOYER_OPT_maxFiveXxRate" ] || set -- "$@" --max-5xx-rate "$DEPLOYER_OPT_maxFiveXxRate"
            [ -z "$DEPLOYER_OPT_maxP99Ms" ] || set -- "$@" --max-p99-ms "$DEPLOYER_OPT_maxP99Ms"
            exec deployer -o json -c "$DEPLOYER_CONFIG" "$@" > "$DEPLOYER_REPORT"
        ''')
    }
    Map result = readReport(report, code, service)
    archiveArtifacts(artifacts: report, allowEmptyArchive: true)
    return settle(result, code, service, args.propagate != false)
}

Map readReport(String report, int code, String service) {
    if (fileExists(report) && readFile(report).trim()) {
        return readJSON(file: report) as Map
    }
    return [result: 'failed', exit_code: code, service: service, rollback_reason: '']
}

Map settle(Map result, int code, String service, boolean propagate) {
    List<String> outcome = OUTCOMES[code] ?: ['FAILURE', "exit code ${code}"]
    String why = result.rollback_reason ? ": ${result.rollback_reason}" : ''
    String description = "${service}: ${outcome[1]}${why}"
    currentBuild.description = [currentBuild.description, description].findAll { d -> d }.join('\n')
    if (outcome[0] == 'SUCCESS') {
        return result
    }
    if (outcome[0] == 'UNSTABLE') {
        unstable(description)
        return result
    }
    currentBuild.result = outcome[0]
    if (propagate) {
        error("deployer ${description} (exit ${code})")
    }
    return result
}

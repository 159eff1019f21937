// deployerTrain: release a train (several ECS services released as one, `trains:` in deployer.yaml)
// with deployer, from a Jenkins pipeline. Runs `deployer train release` with one image per member,
// reads its JSON report, archives it, and maps deployer's exit code to the build result and a
// description with one line per member. Arguments reach the shell only through the environment,
// never through Groovy string interpolation. Help: deployerTrain.txt.

import groovy.transform.Field

// deployer exit code -> [build result, description]; `deployer` documents the codes (README).
@Field
static final Map<Integer, List<String>> OUTCOMES = [
    0  : ['SUCCESS', 'released'],
    1  : ['FAILURE', 'unexpected error'],
    2  : ['FAILURE', 'bad usage or config, nothing changed'],
    3  : ['UNSTABLE', 'halted and rolled back as on_failure says'],
    4  : ['FAILURE', 'rollback failed or state inconsistent'],
    5  : ['FAILURE', 'timed out, state unknown'],
    6  : ['NOT_BUILT', 'a member is locked by another release'],
    130: ['ABORTED', 'interrupted, traffic restored'],
]

// exit code -> result, when deployer wrote no report (it refused before the train began)
@Field
static final Map<Integer, String> RESULTS_WITHOUT_REPORT = [6: 'locked', 130: 'interrupted']

Map call(Map args = [:]) {
    String train = args.train ?: error('deployerTrain: `train` is required')
    Map images = args.images ?: [:]
    if (!images) {
        error('deployerTrain: `images` is required: a map of member service to image, e.g. [api: apiImg, web: webImg]')
    }
    List<String> lines = images.collect { service, image -> imageLine(service as String, image as String) }
    String report = "deployer-train-${train}-${env.BUILD_NUMBER ?: 'local'}.json"
    List<String> environment = [
        "DEPLOYER_TRAIN=${train}",
        "DEPLOYER_IMAGES=${lines.join('\n')}",
        "DEPLOYER_CONFIG=${args.config ?: env.DEPLOYER_CONFIG ?: 'deployer.yaml'}",
        "DEPLOYER_REPORT=${report}",
        "DEPLOYER_POLL=${args.poll ?: '10s'}",
    ]

    int code
    withEnv(environment) {
        // one --image per line of DEPLOYER_IMAGES: split on newlines only, no globbing
        code = sh(returnStatus: true, label: "deployer train release ${train}", script: '''
            set -u
            set -- train release "$DEPLOYER_TRAIN" --poll "$DEPLOYER_POLL"
            set -f
            newline='
'
            old_ifs=$IFS
            IFS=$newline
            for line in $DEPLOYER_IMAGES; do
                [ -z "$line" ] || set -- "$@" --image "$line"
            done
            IFS=$old_ifs
            set +f
            exec deployer -o json -c "$DEPLOYER_CONFIG" "$@" > "$DEPLOYER_REPORT"
        ''')
    }
    Map result = readReport(report, code, train)
    archiveArtifacts(artifacts: report, allowEmptyArchive: true)
    return settle(result, code, train, args.propagate != false)
}

// SERVICE=IMAGE, one line of DEPLOYER_IMAGES
String imageLine(String service, String image) {
    String both = (service ?: '') + (image ?: '')
    if (!service || !image || service.contains('=') || both.contains('\n') || both.contains('\r')) {
        error("deployerTrain: images: expected service: image, one line each, no '=' in the service (at ${service})")
    }
    return "${service}=${image}"
}

Map readReport(String report, int code, String train) {
    if (fileExists(report) && readFile(report).trim()) {
        return readJSON(file: report) as Map
    }
    return [result: RESULTS_WITHOUT_REPORT[code] ?: 'failed', exit_code: code, train: train, reason: '', members: [:]]
}

Map settle(Map result, int code, String train, boolean propagate) {
    List<String> outcome = OUTCOMES[code] ?: ['FAILURE', "exit code ${code}"]
    String why = result.reason ? ": ${result.reason}" : ''
    String description = "train ${train}: ${outcome[1]}${why}"
    List<String> members = memberLines(result.members as Map)
    currentBuild.description = ([currentBuild.description, description] + members).findAll { d -> d }.join('\n')
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

// one line per member, wave by wave: "web: failed [error_rate_above_limit: ...]"
@NonCPS
List<String> memberLines(Map members) {
    if (!members) {
        return []
    }
    return members.collect { service, member -> [service, member] }
        .sort { entry -> (entry[1] as Map).wave ?: 0 }
        .collect { entry ->
            Map member = entry[1] as Map
            String reason = member.reason ? " [${member.reason}]" : ''
            "${entry[0]}: ${member.state}${reason}".toString()
        }
}

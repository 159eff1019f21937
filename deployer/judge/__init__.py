"""The judge: deployer's gates as an AWS Lambda function, so a release does not depend on one runner.

ECS invokes it at the judged stages of a native deployment (an AWS_LAMBDA lifecycle hook each), and
EventBridge Scheduler invokes it every minute as the guard of releases whose runner is gone.
`deployer judge package` builds its artifact; `deployer judge install` deploys it.
"""

"""CI integrations: GitHub workflow and Jenkinsfile scaffolding, and the webhook receiver."""

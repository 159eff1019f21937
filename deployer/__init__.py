"""deployer: take ECS services from "new image built" to "serving 100% of traffic" safely."""

__version__ = "0.1.0"

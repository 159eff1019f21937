"""Create or update a service's stacks through change sets, never reverting a release."""

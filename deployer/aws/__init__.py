"""The one door to AWS. Only this package imports boto3/botocore.

Adapters translate one intention into AWS calls and back; they never decide anything.
"""

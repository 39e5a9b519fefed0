"""The AWS backend's parts: clients and the error boundary, S3, the Glue catalog, SNS.

Nothing here creates a client at import; `session.AwsClients(settings)` does.
"""

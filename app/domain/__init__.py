"""The rules: services, access policy, vocabularies and domain errors.

Nothing here imports FastAPI or Strawberry; every way out of the hub goes through these modules.
"""

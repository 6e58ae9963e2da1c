"""`make bench`: the product measured against a moto server in its own process, beside Cloud Custodian."""

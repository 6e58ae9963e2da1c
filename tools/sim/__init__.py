"""The simulated Organization (moto) and the local Slack sink that `make demo`, `make invoke` and the tests use."""

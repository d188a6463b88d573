"""Real services for the suite: each fixture module starts one from the project's devstack."""

pytest_plugins = [
    "tests.fixtures.temporal",
    "tests.fixtures.postgres",
    "tests.fixtures.sqlite",
    "tests.fixtures.kafka",
    "tests.fixtures.smtp",
    "tests.fixtures.stripe",
    "tests.fixtures.jaeger",
    "tests.fixtures.keycloak",
]

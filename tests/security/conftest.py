"""Red-team regression tests (issue 15): each finding reproduced against real parts.

Each module names the finding it covers. The broker is the shipped configuration
(``tests.support.deploy.start_secure_broker``), the hub a real one.
"""

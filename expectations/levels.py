"""The two levels of a gate check, as GX's own severity (one home for every
suite): critical fails the gate and stops publishing; warning is reported
in the run's gate results and the step line, and the night goes on."""

from great_expectations.expectations.metadata_types import FailureSeverity

FAIL = FailureSeverity.CRITICAL
WARN = FailureSeverity.WARNING

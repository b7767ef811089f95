"""compliance-monitor: alerts when a device in an MDM-managed fleet stops being compliant."""

__version__ = "0.1.0"

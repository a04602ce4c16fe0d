"""Every flag code a decoder can put in ``Observation.flags``, with its meaning.

Flags are kebab-case. ``user-N`` (a device user index) and ``instance-N`` (the N-th object of
the same id in one BTHome packet) are the two patterned flags.
"""

from __future__ import annotations

import re

__all__ = ["FLAGS", "PATTERNED_FLAGS", "is_known_flag"]

FLAGS: dict[str, str] = {
    # device time (any format with a DateTime)
    "device-time-unknown": "the device sent a DateTime with unknown (0) fields; receive time used",
    "device-time-invalid": "the device DateTime is out of range; receive time used",
    "device-time-implausible": "device time before 2000 or in the future; receive time used",
    "device-clock-not-set": "the device says its clock is not set; receive time used",
    "reserved-status": "a status bit or value the specification reserves was set",
    # heart rate 0x2A37
    "sensor-contact": "sensor contact detected",
    "sensor-contact-lost": "sensor contact supported but not detected",
    # thermometer 0x2A1C, glucose 0x2A18
    "site-reserved": "the measurement site code is reserved; no body site given",
    # blood pressure 0x2A35
    "body-movement": "body movement during measurement",
    "cuff-too-loose": "cuff fit too loose",
    "irregular-pulse": "irregular pulse detected",
    "pulse-rate-above-range": "pulse rate exceeds the upper limit",
    "pulse-rate-below-range": "pulse rate is less than the lower limit",
    "improper-position": "improper measurement position",
    # weight 0x2A9D
    "measurement-unsuccessful": "the scale reported an unsuccessful measurement (0xFFFF)",
    # pulse oximeter 0x2A5E / 0x2A5F, measurement status
    "measurement-ongoing": "measurement ongoing (status preliminary)",
    "early-estimate": "early estimated data (status preliminary)",
    "validated": "validated data",
    "fully-qualified": "fully qualified data",
    "from-storage": "data from measurement storage",
    "demonstration-data": "data for demonstration (observation marked demo)",
    "testing-data": "data for testing (observation marked demo)",
    "calibration-ongoing": "calibration ongoing",
    "measurement-unavailable": "measurement unavailable (no value given)",
    "questionable-measurement": "questionable measurement detected",
    "invalid-measurement": "invalid measurement detected (no value given)",
    # pulse oximeter device and sensor status
    "extended-display-update": "extended display update ongoing",
    "equipment-malfunction": "equipment malfunction detected",
    "signal-processing-irregularity": "signal processing irregularity detected",
    "inadequate-signal": "inadequate signal detected",
    "poor-signal": "poor signal detected",
    "low-perfusion": "low perfusion detected",
    "erratic-signal": "erratic signal detected",
    "non-pulsatile-signal": "non-pulsatile signal detected",
    "questionable-pulse": "questionable pulse detected",
    "signal-analysis-ongoing": "signal analysis ongoing",
    "sensor-interference": "sensor interference detected",
    "sensor-unconnected": "sensor unconnected to user",
    "unknown-sensor": "unknown sensor connected",
    "sensor-displaced": "sensor displaced",
    "sensor-malfunction": "sensor malfunctioning (glucose, CGM: no value given)",
    "sensor-disconnected": "sensor disconnected",
    # glucose 0x2A18
    "battery-low": "device battery low at time of measurement",
    "sample-size-insufficient": "sample size insufficient (no value given)",
    "strip-insertion-error": "strip insertion error (no value given)",
    "strip-type-incorrect": "strip type incorrect for device (no value given)",
    "result-above-range": "result higher than the device can process",
    "result-below-range": "result lower than the device can process",
    "temperature-too-high": "sensor temperature too high for a valid result",
    "temperature-too-low": "sensor temperature too low for a valid result",
    "strip-pulled-too-soon": "read interrupted: strip pulled too soon (no value given)",
    "device-fault": "general device fault (no value given)",
    "time-fault": "time fault: the device time is not trusted; receive time used",
    "context-follows": "a Glucose Measurement Context record follows",
    # CGM 0x2AA7
    "below-patient-low": "result lower than the patient low level",
    "above-patient-high": "result higher than the patient high level",
    "below-hypo": "result lower than the hypo level",
    "above-hyper": "result higher than the hyper level",
    "decrease-rate-exceeded": "rate of decrease exceeded",
    "increase-rate-exceeded": "rate of increase exceeded",
    "below-device-range": "result lower than the device can process",
    "above-device-range": "result higher than the device can process",
    "time-sync-required": "time synchronisation between sensor and collector required",
    "calibration-not-allowed": "calibration not allowed",
    "calibration-recommended": "calibration recommended",
    "calibration-required": "calibration required",
    "session-stopped": "CGM session stopped",
    "sensor-type-incorrect": "sensor type incorrect for device (no value given)",
    "device-specific-alert": "device-specific alert",
    # pvvx custom format
    "reed-switch": "pvvx: reed switch input active",
    "trigger-output": "pvvx: GPIO trigger output set",
    "trigger-control": "pvvx: trigger output controlled by the set parameters",
    "temperature-trigger": "pvvx: temperature trigger event",
    "humidity-trigger": "pvvx: humidity trigger event",
}

PATTERNED_FLAGS: dict[str, str] = {
    r"user-\d{1,3}": "the device's user index (blood pressure, weight); 255 (unknown) omitted",
    r"instance-\d{1,3}": "BTHome: the N-th object of this id in one packet",
}

_PATTERNS = [re.compile(p) for p in PATTERNED_FLAGS]


def is_known_flag(flag: str) -> bool:
    return flag in FLAGS or any(p.fullmatch(flag) for p in _PATTERNS)

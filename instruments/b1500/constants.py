"""B1500A FLEX constants (Keysight B1500A Programming Guide, FLEX command reference)."""
from __future__ import annotations

#: slots in the mainframe; an SMU's channel number is its slot number, an SPGU's two
#: channels are 100*slot + 1 and 100*slot + 2.
N_SLOTS = 10

#: module model -> kind
MODULE_KINDS = {
    "B1510A": "HPSMU", "B1511A": "MPSMU", "B1511B": "MPSMU", "B1514A": "MCSMU",
    "B1517A": "HRSMU", "B1520A": "CMU", "B1525A": "SPGU", "B1530A": "WGFMU",
}
SMU_KINDS = {"HPSMU", "MPSMU", "MCSMU", "HRSMU"}

# MM measurement modes
MM_SPOT = 1
MM_STAIRCASE = 2
MM_SAMPLING = 10

# AIT ADC types and modes
ADC_HIGH_SPEED = 0
ADC_HIGH_RESOLUTION = 1
ADC_MODE_AUTO = 0
ADC_MODE_MANUAL = 1
ADC_MODE_PLC = 2
ADC_MODE_TIME = 3

#: the value a B1500 sends for data that has no meaning (status V, aborted sweep)
DUMMY_VALUE = 199.999e99

#: FMT 1 status letters (first character of each datum)
STATUS = {
    "N": "no error",
    "T": "another channel reached its compliance",
    "C": "this channel reached its compliance",
    "V": "over measurement range or sweep aborted (value is the dummy 199.999E+99)",
    "X": "oscillation, or source output did not settle",
    "F": "SMU in force saturation",
    "G": "search target not found / quasi-pulse detection time over",
    "S": "search stopped / quasi-pulse slew too slow",
    "W": "first or intermediate sweep step",
    "E": "last sweep step",
    "U": "CMU null loop unbalance",
    "D": "CMU IV amplifier saturation",
}
#: statuses meaning the datum is fine
STATUS_OK = frozenset("NWE")

#: FMT 1 data-type letters (third character)
DATA_TYPES = {"V": "voltage", "I": "current", "T": "time", "X": "sampling index",
              "C": "capacitance", "Y": "admittance", "Z": "impedance", "F": "frequency"}

#: SPGU
SIM_PG = 0              # SIM 0: pulse generator mode
SPM_DC = 0              # SPM ch,0: free-run DC (base only)
SPM_2LEVEL_SRC1 = 1     # SPM ch,1: 2-level pulse from pulse source 1
SPRM_FREE_RUN = 0
SPRM_COUNT = 1
SPRM_DURATION = 2

#: ERRX? codes used by the emulator and understood by the driver (FLEX error code list)
ERRORS = {
    0: "No Error.",
    100: "Undefined GPIB command.",
    102: "Incorrect numeric data syntax.",
    103: "Incorrect terminator position.",
    120: "Incorrect parameter value.",
    122: "Number of channels must be corrected.",
    123: "Compliance must be set correctly.",
    150: "Command input buffer is full.",
    200: "Channel output switch must be ON.",
    305: "Unit is not installed in the slot.",
}


def channel_letter(channel: int) -> str:
    """FMT 1 channel letter: slot 1 -> 'A' … slot 10 -> 'J'; sub-channel 2 in lower case."""
    slot, sub = (channel // 100, channel % 100) if channel > 100 else (channel, 1)
    if not 1 <= slot <= N_SLOTS or sub not in (1, 2):
        raise ValueError(f"no FMT channel letter for channel {channel!r}: slots 1..{N_SLOTS}")
    c = chr(ord("A") + slot - 1)
    return c if sub == 1 else c.lower()


def letter_channel(letter: str) -> int:
    """Inverse of `channel_letter` for slot channels ('A' -> 1, 'b' -> 202)."""
    if letter.isupper() and "A" <= letter <= "J":
        return ord(letter) - ord("A") + 1
    if "a" <= letter <= "j":
        return (ord(letter) - ord("a") + 1) * 100 + 2
    if letter in ("V", "Z"):  # GNDU / misc: no slot
        return 0
    raise ValueError(f"unknown FMT channel letter {letter!r}")

"""Probe station with the MPI SENTIO remote command set (text over TCP/IP or GPIB)."""
from instruments.probe_station.driver import ProbeStation

__all__ = ["ProbeStation"]

"""Wire-protocol emulators of lab instruments, driving the simulated physics."""

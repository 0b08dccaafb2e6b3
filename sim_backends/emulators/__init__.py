"""Wire-protocol emulators of lab instruments, driving the simulated physics.

- `b1500.B1500Emulator` (FLEX, SMUs + SPGU), `pulsegen.PulseGenEmulator` (33500-class SCPI),
  `switch_matrix.SwitchMatrixEmulator` (E5250A-class SCPI), `probe_station.ProbeStationEmulator`
  (MPI SENTIO), `array_controller.ArrayControllerEmulator` (our framed protocol);
- `bench.Bench`: ports -> matrix -> array pins -> `Lines` -> physics;
- `lab.EmulatedLab`: all of them for one station; `server.EmulatorServer`: one TCP port each;
- `faults.FaultPlan`: injectable timeouts, partial/garbled replies, errors, compliance,
  disconnects.
"""

"""Start the emulated lab on free loopback ports and drive it with plain pyvisa, as a bench
script would: identify the B1500A, route cell (0, 0) of the 8 x 8 H-1E1T array through the
switch matrix, bring the probes into contact and measure its conductance with a spot measurement.
Usage: python examples/pyvisa_on_hil_serve.py"""
from importlib import resources

import pyvisa

from hil import serve
from hil.station import Station

V_READ, V_SELECT = 0.1, 10.0        # drain read bias; selector gate (the card's V_SS)
# matrix crosspoints "cIIOO" (card, input, output): inputs 1 GNDU, 2 SMU4, 4 SMU6; outputs of
# an 8 x 8 array: G0..G7 = 1..8, T0..T7 = 9..16, D0..D7 = 17..24, S0..S7 = 25..32 (hil/pins.py)
GATES_TO_GROUND = ",".join(f"101{g:02d}" for g in range(1, 9))
READ_CELL_00 = f"(@{GATES_TO_GROUND},10409,10217,10125)"   # T0<-SMU6, D0<-SMU4, S0<-GNDU

station = Station.from_text((resources.files("hil_data") / "stations" / "emulated_lab.toml").read_text())
with serve.start(station, free_ports=True) as served:       # `hil serve --port 0` does the same
    rm = pyvisa.ResourceManager("@py")
    b1500 = rm.open_resource(served.by_name("b1500").visa_resource, read_termination="\r\n",
                             write_termination="\n", timeout=20000)
    matrix = rm.open_resource(served.by_name("matrix").visa_resource, read_termination="\n",
                              write_termination="\n", timeout=20000)
    print("B1500A:", b1500.query("*IDN?"))
    print("modules:", b1500.query("UNT?"))
    prober = rm.open_resource(served.by_name("prober").visa_resource, read_termination="\n",
                              write_termination="\n", timeout=20000)
    print("matrix:", matrix.query("*IDN?"))
    print("prober:", prober.query("*IDN?"), "| contact:", prober.query("move_chuck_contact"))
    matrix.write(f"ROUT:CLOS {READ_CELL_00}")
    matrix.query("*OPC?")                           # relays settled before the B1500 measures
    b1500.write("CN 4,6")
    b1500.write(f"DV 6,0,{V_SELECT},1e-3")          # selector on
    b1500.write(f"DV 4,0,{V_READ},1e-3")            # drain bias, 1 mA compliance
    reply = b1500.query("TI 4")                     # e.g. NAI+0.00000783E+00 (FMT 1)
    current_A = float(reply[3:])
    print(f"TI 4 -> {reply}: G(0, 0) = {current_A / V_READ * 1e6:.3f} µS")
    print("errors:", b1500.query("ERRX?"))
    b1500.write("DZ")                               # outputs to 0 V, then off; relays open
    b1500.write("CL")
    matrix.write("ROUT:OPEN:CARD ALL")
    prober.query("move_chuck_separation")
    for inst in (b1500, matrix, prober):
        inst.close()
    rm.close()

"""Sans-IO SMS core: addresses, 3GPP TS 23.040 TPDUs and UDH, segmentation, reassembly.

Nothing here does I/O; every module turns bytes into values and back (model: h11).
"""

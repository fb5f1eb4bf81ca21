#!/usr/bin/env python3
"""Writes the DICOM and zip fuzzing seeds: a made-up 8x8 CT slice in explicit VR little endian,
and a zip of two such slices 2 mm apart. No patient data: every value is invented here.

    Fuzz/seed-dicom.py   (writes Fuzz/corpus/dicom/ct-8x8.dcm and Fuzz/corpus/zip/series.zip)
"""
import os, struct, zipfile

LONG_VRS = {b"OB", b"OW", b"UN", b"SQ", b"UT"}


def element(group, number, vr, value):
    if isinstance(value, str):
        value = value.encode()
        value += (b"\0" if vr == b"UI" else b" ") * (len(value) % 2)
    if vr in LONG_VRS:
        return struct.pack("<HH2s2xI", group, number, vr, len(value)) + value
    return struct.pack("<HH2sH", group, number, vr, len(value)) + value


def slice_file(z):
    instance = "1.2.826.0.1.3680043.2.1125.%d" % (100 + z)
    meta = (element(2, 1, b"OB", b"\0\1") + element(2, 2, b"UI", "1.2.840.10008.5.1.4.1.1.2")
            + element(2, 3, b"UI", instance) + element(2, 0x10, b"UI", "1.2.840.10008.1.2.1"))
    data = b"".join([
        element(8, 0x16, b"UI", "1.2.840.10008.5.1.4.1.1.2"), element(8, 0x18, b"UI", instance),
        element(8, 0x60, b"CS", "CT"), element(0x18, 0x50, b"DS", "2"),
        element(0x20, 0x0D, b"UI", "1.2.826.0.1.3680043.2.1125.1"), element(0x20, 0x0E, b"UI", "1.2.826.0.1.3680043.2.1125.2"),
        element(0x20, 0x32, b"DS", "0\\0\\%d" % (2 * z)), element(0x20, 0x37, b"DS", "1\\0\\0\\0\\1\\0"),
        element(0x28, 2, b"US", struct.pack("<H", 1)), element(0x28, 4, b"CS", "MONOCHROME2"),
        element(0x28, 0x10, b"US", struct.pack("<H", 8)), element(0x28, 0x11, b"US", struct.pack("<H", 8)),
        element(0x28, 0x30, b"DS", "1\\1"), element(0x28, 0x100, b"US", struct.pack("<H", 16)),
        element(0x28, 0x101, b"US", struct.pack("<H", 16)), element(0x28, 0x102, b"US", struct.pack("<H", 15)),
        element(0x28, 0x103, b"US", struct.pack("<H", 1)), element(0x28, 0x1052, b"DS", "-1024"),
        element(0x28, 0x1053, b"DS", "1"),
        element(0x7FE0, 0x10, b"OW", struct.pack("<64h", *[1024 + 40 * ((x + z) % 3) for x in range(64)])),
    ])
    return b"\0" * 128 + b"DICM" + element(2, 0, b"UL", struct.pack("<I", len(meta))) + meta + data


here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "corpus/dicom/ct-8x8.dcm"), "wb") as f:
    f.write(slice_file(0))
with zipfile.ZipFile(os.path.join(here, "corpus/zip/series.zip"), "w", zipfile.ZIP_DEFLATED) as archive:
    for z in range(2):
        archive.writestr("series/slice-%d.dcm" % z, slice_file(z))

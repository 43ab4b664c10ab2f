#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Writes the kernel's PTX (argv[1]) as a C header (argv[2]) declaring
# `static const char dhatu_ptx[]`, NUL-terminated as cuModuleLoadData wants.
import sys

with open(sys.argv[1], "rb") as f:
    ptx = f.read()
with open(sys.argv[2], "w") as out:
    out.write("/* Generated from %s by embed-ptx.py: do not edit. */\n" % sys.argv[1].split("/")[-1])
    out.write("static const char dhatu_ptx[] = {\n")
    for i in range(0, len(ptx), 16):
        out.write("  " + ", ".join("0x%02x" % b for b in ptx[i:i + 16]) + ",\n")
    out.write("  0x00\n};\n")

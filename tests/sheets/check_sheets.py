"""Opens our exported files with readers nobody on the team wrote and checks
every id stayed exact text (SPEC §11 "Orders"; tests/tests/sheet_readers.rs).

    python check_sheets.py SPEC.json

SPEC.json: {"files": [{"path", "kind": "xlsx"|"csv", "cells": [[header, row, text]]}]}
with `row` counted from 1 after the header and `text` the exact string the
cell must hold (a CSV id keeps its leading TAB). XLSX files are read with
openpyxl and python-calamine; CSV files are first converted by LibreOffice
headless, once as its File > Open dialog reads them (UTF-8, separators
`,` `;` TAB, formulas not evaluated) and once with formula evaluation on,
then read with openpyxl. No cell of any file may come back as a formula.
"""

import json
import os
import subprocess
import sys
import tempfile

import openpyxl
import python_calamine

# Tokens: separators (44/59/9 = , ; TAB: LibreOffice's dialog default), text
# delimiter ", charset 76 (UTF-8), first line 1, no column formats, language,
# quoted-as-text off, special numbers off, (export x3), then evaluate formulas.
CSV_OPTIONS = {
    "dialog": "44/59/9,34,76,1,,0,false,false,false,false,false,-1,false",
    "evaluating": "44/59/9,34,76,1,,0,false,false,false,false,false,-1,true",
}


def fail(message):
    print(f"check_sheets: {message}", file=sys.stderr)
    sys.exit(1)


def convert(csv_path, options, out_dir):
    profile = tempfile.mkdtemp(prefix="lo-profile-")
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--norestore",
            f"--infilter=Text - txt - csv (StarCalc):{options}",
            "--convert-to",
            "xlsx",
            "--outdir",
            out_dir,
            csv_path,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    name = os.path.splitext(os.path.basename(csv_path))[0] + ".xlsx"
    converted = os.path.join(out_dir, name)
    if not os.path.exists(converted):
        fail(f"LibreOffice wrote no {converted}")
    return converted


def openpyxl_cells(path):
    sheet = openpyxl.load_workbook(path).worksheets[0]
    rows = list(sheet.iter_rows())
    headers = [c.value for c in rows[0]]
    for row in rows:
        for c in row:
            if c.data_type == "f":
                fail(f"{path}: {c.coordinate} came back as a formula: {c.value!r}")
    return headers, rows


def check_openpyxl(path, cells, label):
    headers, rows = openpyxl_cells(path)
    for header, row, text in cells:
        if header not in headers:
            fail(f"{label}: no column {header!r} in {headers}")
        cell = rows[row][headers.index(header)]
        if cell.data_type != "s" or cell.value != text:
            fail(f"{label}: {header} row {row} is {cell.value!r} ({cell.data_type}), not text {text!r}")


def check_calamine(path, cells, label):
    rows = python_calamine.CalamineWorkbook.from_path(path).get_sheet_by_index(0).to_python()
    headers = rows[0]
    for header, row, text in cells:
        value = rows[row][headers.index(header)]
        if not isinstance(value, str) or value != text:
            fail(f"{label} (calamine): {header} row {row} is {value!r}, not text {text!r}")


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    checked = 0
    for entry in spec["files"]:
        path, cells = entry["path"], entry["cells"]
        if entry["kind"] == "xlsx":
            check_openpyxl(path, cells, path)
            check_calamine(path, cells, path)
            checked += 2
        else:
            for name, options in CSV_OPTIONS.items():
                out_dir = tempfile.mkdtemp(prefix=f"lo-{name}-")
                converted = convert(path, options, out_dir)
                check_openpyxl(converted, cells, f"{path} via LibreOffice ({name})")
                check_calamine(converted, cells, f"{path} via LibreOffice ({name})")
                checked += 2
    print(f"check_sheets: {checked} readings, every id exact text, no formulas")


if __name__ == "__main__":
    main()

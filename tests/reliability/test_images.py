"""The image reliability corpus: every kind of file a user may hand blindface, in one batch.

The corpus is built at test time from a few real faces (nothing is committed) and embedded in
one :func:`embed_files` batch, its cases interleaved with intact faces. One test per case: a
bad file gets a ``failed`` record whose reason says what is wrong, an odd but valid file gets
the right embedding, and the rest of the batch is intact.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from blindface.faces import Embedder, FaceRecord, embed_files, get_embedder, read_image


def write_png_header_only(path: Path, width: int, height: int) -> None:
    """A valid 1-bit PNG whose header claims ``width x height`` (a few hundred bytes on disk)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * ((width + 7) // 8 + 1) * 4)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def write_tiff_header_only(path: Path, width: int, height: int) -> None:
    """A little-endian 8-bit gray TIFF whose one strip claims ``width x height`` (tiny on disk)."""
    long, short = 4, 3
    entries = [
        (256, long, width),  # ImageWidth
        (257, long, height),  # ImageLength
        (258, short, 8),  # BitsPerSample
        (259, short, 1),  # Compression: none
        (262, short, 1),  # PhotometricInterpretation: black is zero
        (273, long, 0),  # StripOffsets, set below
        (277, short, 1),  # SamplesPerPixel
        (278, long, height),  # RowsPerStrip
        (279, long, 16),  # StripByteCounts
    ]
    data_offset = 8 + 2 + 12 * len(entries) + 4
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        ifd += struct.pack("<HHII", tag, kind, 1, data_offset if tag == 273 else value)
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + bytes(16))


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail instead of hanging (a FIFO read would block forever)."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s: something blocked")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass(frozen=True)
class Faces:
    """The real faces the corpus is made of: ``face`` (the one every case is made from, as a
    JPEG file and as pixels) and ``other`` (a second person)."""

    face_file: Path
    face: np.ndarray
    other: np.ndarray


def _cut_in_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _truncated_jpeg(path: Path, faces: Faces) -> None:
    shutil.copy(faces.face_file, path)
    _cut_in_half(path)


def _truncated_png(path: Path, faces: Faces) -> None:
    Image.fromarray(faces.face).save(path)
    _cut_in_half(path)


def _fifo(path: Path, faces: Faces) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    os.mkfifo(path)


def _unreadable(path: Path, faces: Faces) -> None:
    shutil.copy(faces.face_file, path)
    path.chmod(0)


def _exif_rotated(path: Path, faces: Faces) -> None:
    """Stored turned 90 degrees counter-clockwise, EXIF orientation 6 ("rotate 90 clockwise to
    display")."""
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.ascontiguousarray(np.rot90(faces.face))).save(path, exif=exif, quality=95)


def _animated(path: Path, faces: Faces) -> None:
    frames = [Image.fromarray(faces.face), Image.fromarray(faces.other)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)


def _rgba(path: Path, faces: Faces) -> None:
    alpha = np.zeros(faces.face.shape[:2], np.uint8)
    alpha[20:-20, 20:-20] = 255  # an opaque face on a transparent border
    alpha[:20, :] = 128
    Image.fromarray(np.dstack([faces.face, alpha]), "RGBA").save(path)


def _gray16(path: Path, faces: Faces) -> None:
    gray = np.asarray(Image.fromarray(faces.face).convert("L"), dtype=np.uint16)
    Image.fromarray(gray * 257).save(path)


CASES: dict[str, tuple[str, Callable[[Path, Faces], None]]] = {
    # name: (file name, how to make it)
    "zero_byte": ("zero.jpg", lambda p, f: p.write_bytes(b"")),
    "truncated_jpeg": ("truncated.jpg", _truncated_jpeg),
    "truncated_png": ("truncated.png", _truncated_png),
    "text_named_jpg": ("text.jpg", lambda p, f: p.write_text("not an image at all\n")),
    # refused from the header by our own limit (50 MP), and by Pillow's (2 x 89 MP)
    "png_bomb": ("bomb.png", lambda p, f: write_png_header_only(p, 10_000, 10_000)),
    "tiff_bomb": ("bomb.tiff", lambda p, f: write_tiff_header_only(p, 100_000, 100_000)),
    "cmyk_jpeg": ("cmyk.jpg", lambda p, f: Image.fromarray(f.face).convert("CMYK").save(p)),
    "gray16_png": ("gray16.png", _gray16),
    "palette_png": ("palette.png", lambda p, f: Image.fromarray(f.face).quantize(256).save(p)),
    "rgba_png": ("rgba.png", _rgba),
    "exif_rotated_jpeg": ("rotated.jpg", _exif_rotated),
    "animated_gif": ("animated.gif", _animated),
    "no_face": ("grey.png", lambda p, f: Image.new("RGB", (160, 160), (127, 127, 127)).save(p)),
    "unicode_name": ("visage-é-顔 😀.jpg", lambda p, f: shutil.copy(f.face_file, p)),
    "broken_symlink": ("link.jpg", lambda p, f: p.symlink_to(p.with_name("gone.jpg"))),
    "fifo": ("fifo.jpg", _fifo),
    "unreadable": ("locked.jpg", _unreadable),
    "directory": ("folder.jpg", lambda p, f: p.mkdir()),
    "missing": ("missing.jpg", lambda p, f: None),
}


@dataclass(frozen=True)
class Corpus:
    faces: Faces
    paths: dict[str, Path]  # case -> file
    records: dict[str, FaceRecord]  # case -> its record in the batch
    batch: list[Path]  # every file of the batch, in order
    batch_records: list[FaceRecord]
    intact: list[Path]  # the real faces between the cases
    embedder: Embedder

    def embedding(self, case: str) -> np.ndarray:
        record = self.records[case]
        assert record.status == "detected", (case, record.status, record.reason)
        assert record.embedding is not None
        return record.embedding

    def embed(self, rgb: np.ndarray) -> np.ndarray:
        result = self.embedder.embed(np.ascontiguousarray(rgb))
        assert result.embedding is not None, result.reason
        return result.embedding


@pytest.fixture(scope="module")
def corpus(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    real = sorted((data_dir / "utkface" / "UTKFace").glob("*.jpg"))[::97][:5]
    if len(real) < 5:
        pytest.skip("UTKFace not in the data fixture")
    folder = tmp_path_factory.mktemp("corpus")
    faces = Faces(real[0], read_image(real[0]), read_image(real[1]))
    paths = {}
    for case, (name, make) in CASES.items():
        paths[case] = folder / name
        make(paths[case], faces)
    intact = real[2:]
    batch: list[Path] = []
    for index, path in enumerate(paths.values()):
        batch.append(path)
        if index % 6 == 2:
            batch.append(intact[index // 6 % len(intact)])
    embedder = get_embedder("sface", backend="opencv")
    with deadline(120):
        records = list(embed_files(batch, embedder, n_jobs=1, chunk_size=4))
    by_path = {record.path: record for record in records}
    by_case = {case: by_path[str(path)] for case, path in paths.items()}
    return Corpus(faces, paths, by_case, batch, records, intact, embedder)


def test_the_rest_of_the_batch_is_intact(corpus):
    assert [record.path for record in corpus.batch_records] == [str(p) for p in corpus.batch]
    intact = [r for r in corpus.batch_records if Path(r.path) in corpus.intact]
    assert len(intact) >= 3
    for record in intact:
        assert record.status == "detected" and record.embedding is not None
        expected = corpus.embed(read_image(record.path))
        np.testing.assert_array_equal(record.embedding, expected)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("zero_byte", "empty file (0 bytes)"),
        ("truncated_jpeg", "truncated or corrupt image data"),
        ("truncated_png", "truncated or corrupt image data"),
        ("text_named_jpg", "not an image (unknown file format)"),
        ("png_bomb", "image is 10000x10000 = 100 MP, over the 50 MP limit (possible decompr"),
        ("tiff_bomb", "over the 50 MP limit, possible decompression bomb"),
        ("no_face", "no face detected"),
        ("broken_symlink", "broken symbolic link (to "),
        ("fifo", "not a regular file (a FIFO), so not read"),
        ("directory", "a directory, not an image file"),
        ("missing", "file not found"),
    ],
)
def test_a_bad_file_fails_with_its_reason(corpus, case, reason):
    record = corpus.records[case]
    assert record.status == "failed" and record.embedding is None
    assert record.reason is not None and reason in record.reason, record.reason


def test_an_unreadable_file_fails_with_its_reason(corpus):
    if os.access(corpus.paths["unreadable"], os.R_OK):
        pytest.skip("this user reads the file anyway (root)")
    record = corpus.records["unreadable"]
    assert record.status == "failed" and "permission denied" in str(record.reason)


def test_a_cmyk_jpeg_embeds_like_its_rgb_original(corpus):
    original = corpus.embed(corpus.faces.face)
    assert float(corpus.embedding("cmyk_jpeg") @ original) > 0.99


def test_a_16_bit_png_embeds_like_its_8_bit_version(corpus):
    gray = np.asarray(Image.fromarray(corpus.faces.face).convert("L"))
    expected = corpus.embed(np.repeat(gray[:, :, None], 3, axis=2))
    np.testing.assert_array_equal(corpus.embedding("gray16_png"), expected)


def test_a_palette_png_embeds_its_colours(corpus):
    with Image.open(corpus.paths["palette_png"]) as image:
        assert image.mode == "P"
        expected = corpus.embed(np.asarray(image.convert("RGB")))
    np.testing.assert_array_equal(corpus.embedding("palette_png"), expected)
    assert float(expected @ corpus.embed(corpus.faces.face)) > 0.95


def test_an_rgba_png_embeds_the_face_over_white(corpus):
    with Image.open(corpus.paths["rgba_png"]) as image:
        rgba = np.asarray(image, dtype=np.float64)
    alpha = rgba[:, :, 3:] / 255.0
    over_white = np.rint(rgba[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    decoded = read_image(corpus.paths["rgba_png"]).astype(int)
    assert np.abs(decoded - over_white).max() <= 1
    expected = corpus.embed(over_white)
    assert float(corpus.embedding("rgba_png") @ expected) > 0.9999


def test_an_exif_rotated_jpeg_embeds_upright(corpus):
    with Image.open(corpus.paths["exif_rotated_jpeg"]) as image:
        stored = np.asarray(image.convert("RGB"))  # as stored, EXIF ignored
    upright = np.rot90(stored, k=-1)  # orientation 6: turn 90 degrees clockwise
    np.testing.assert_array_equal(corpus.embedding("exif_rotated_jpeg"), corpus.embed(upright))
    original = corpus.embed(corpus.faces.face)
    assert float(corpus.embedding("exif_rotated_jpeg") @ original) > 0.99
    sideways = corpus.embedder.embed(np.ascontiguousarray(stored)).embedding
    assert sideways is None or float(sideways @ original) < 0.5  # the test can fail


def test_an_animated_gif_embeds_its_first_frame(corpus):
    embedding = corpus.embedding("animated_gif")
    assert float(embedding @ corpus.embed(corpus.faces.face)) > 0.97
    assert float(embedding @ corpus.embed(corpus.faces.other)) < 0.5


def test_a_unicode_file_name_embeds(corpus):
    expected = corpus.embed(corpus.faces.face)
    np.testing.assert_array_equal(corpus.embedding("unicode_name"), expected)

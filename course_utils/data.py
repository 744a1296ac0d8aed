"""EuroSAT RGB: find it, download it, verify it, split it, batch it.

The dataset follows torchvision's layout: ``<root>/eurosat/2750/<Class>/<file>.jpg``.
The root is an explicit argument, else ``$COURSE_DATA_DIR``, else ``data/`` in the
repository. The decoded images are held in memory as uint8 (about 330 MB for all
27,000) and cached on disk, so epochs are never bound by JPEG decoding.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .runtime import fast_mode

logger = logging.getLogger(__name__)

CLASSES = (
    "AnnualCrop",
    "Forest",
    "HerbaceousVegetation",
    "Highway",
    "Industrial",
    "Pasture",
    "PermanentCrop",
    "Residential",
    "River",
    "SeaLake",
)
EXPECTED_COUNTS = {
    "AnnualCrop": 3000,
    "Forest": 3000,
    "HerbaceousVegetation": 3000,
    "Highway": 2500,
    "Industrial": 2500,
    "Pasture": 2000,
    "PermanentCrop": 2500,
    "Residential": 3000,
    "River": 2500,
    "SeaLake": 3000,
}
IMAGE_SIZE = 64
SPLIT_SEED = 2019  # the year EuroSAT was published; fixes the split for everyone
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)  # train, validation, test, within every class
FAST_PER_CLASS = {"train": 100, "val": 30}  # images per class when COURSE_FAST=1
DOWNLOAD_HOST = "huggingface.co"  # where torchvision.datasets.EuroSAT downloads from
_DECODE_CHUNK = 1000


class DataError(RuntimeError):
    """The dataset is missing, misplaced or damaged; the message says how to fix it."""


# ----------------------------------------------------------------------------- paths
def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data folder: ``root`` if given, else ``$COURSE_DATA_DIR``, else ``data/``."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get("COURSE_DATA_DIR"):
        return Path(os.environ["COURSE_DATA_DIR"]).expanduser()
    repository = Path(__file__).resolve().parent.parent
    if (repository / "pyproject.toml").exists():
        return repository / "data"
    return Path.cwd() / "data"


def cache_dir() -> Path:
    """Where decoded datasets are cached: ``$COURSE_CACHE_DIR`` or ~/.cache."""
    if os.environ.get("COURSE_CACHE_DIR"):
        return Path(os.environ["COURSE_CACHE_DIR"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "course_utils"


def _network_available(host: str = DOWNLOAD_HOST, timeout: float = 3.0) -> bool:
    """True when a TCP connection to ``host`` on port 443 opens within ``timeout``."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def find_eurosat(root: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Return the EuroSAT image folder ``<root>/eurosat/2750``, downloading if allowed.

    Raises ``DataError`` with the fix when the folder is absent, misplaced, or
    cannot be downloaded.
    """
    root = data_root(root)
    image_dir = root / "eurosat" / "2750"
    if image_dir.is_dir():
        return image_dir

    # Common mistakes: the zip extracted one level off, or not extracted at all.
    for misplaced in (
        root / "2750",
        root / "EuroSAT" / "2750",
        root / "eurosat" / "2750" / "2750",
    ):
        if misplaced.is_dir():
            raise DataError(
                f"Found EuroSAT images in {misplaced}, but they are expected in "
                f"{image_dir} (torchvision's layout <root>/eurosat/2750/<Class>/).\n"
                f"Move the folder: mkdir -p {root / 'eurosat'} && "
                f"mv {misplaced} {image_dir}"
            )
    if (root / "eurosat" / "2750").exists() and not image_dir.is_dir():
        raise DataError(f"{image_dir} exists but is not a folder; remove it and retry.")

    manual = (
        "Download EuroSAT RGB (EuroSAT.zip, about 90 MB) from "
        "https://github.com/phelber/EuroSAT and extract it so that the class "
        f"folders sit in {image_dir}, or set COURSE_DATA_DIR to a folder that "
        "already holds eurosat/2750/."
    )
    if not download:
        raise DataError(f"EuroSAT not found in {image_dir}. {manual}")
    if not _network_available():
        raise DataError(
            f"EuroSAT not found in {image_dir}, and it cannot be downloaded: "
            f"{DOWNLOAD_HOST} is not reachable (no network?). {manual}"
        )

    logger.info("Downloading EuroSAT into %s", root / "eurosat")
    try:
        torchvision.datasets.EuroSAT(root=str(root), download=True)
    except Exception as error:  # network drop, bad checksum, full disk
        raise DataError(f"Downloading EuroSAT failed ({error}). {manual}") from error
    return image_dir


# ------------------------------------------------------------------ loading + checks
@dataclass
class EuroSAT:
    """The whole decoded dataset.

    images: uint8, shape (N, 3, 64, 64), RGB 0-255.
    labels: int64, shape (N,), index into ``classes``.
    files: N paths relative to the image folder, e.g. ``Forest/Forest_1.jpg``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    files: list[str]
    classes: tuple[str, ...] = CLASSES

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> dict[str, int]:
        counts = torch.bincount(self.labels, minlength=len(self.classes)).tolist()
        return dict(zip(self.classes, counts, strict=True))


def _list_images(image_dir: Path) -> list[tuple[str, int]]:
    """(relative path, label) for every image, checked against the expected classes."""
    present = sorted(p.name for p in image_dir.iterdir() if p.is_dir())
    missing = [name for name in CLASSES if name not in present]
    if missing:
        raise DataError(
            f"EuroSAT in {image_dir} is incomplete: class folder(s) "
            f"{', '.join(missing)} "
            f"missing (expected all 10: {', '.join(CLASSES)}). Re-extract EuroSAT.zip."
        )
    # torchvision's own listing: ImageFolder rules for which files count as images.
    try:
        folder = torchvision.datasets.EuroSAT(root=str(image_dir.parent.parent))
    except FileNotFoundError as error:  # a class folder without a single image
        raise DataError(
            f"EuroSAT in {image_dir} is incomplete: {error}. Re-extract EuroSAT.zip."
        ) from error
    listed = [
        (str(Path(path).relative_to(image_dir)), label)
        for path, label in folder.samples
    ]
    listed = [
        (path, label) for path, label in listed if folder.classes[label] in CLASSES
    ]
    labels_by_name = {name: CLASSES.index(name) for name in CLASSES}
    listed = [(path, labels_by_name[folder.classes[label]]) for path, label in listed]

    counts = {name: 0 for name in CLASSES}
    for _, label in listed:
        counts[CLASSES[label]] += 1
    short = {name: n for name, n in counts.items() if n != EXPECTED_COUNTS[name]}
    if short:
        details = ", ".join(
            f"{name} has {n} (expected {EXPECTED_COUNTS[name]})"
            for name, n in short.items()
        )
        raise DataError(
            f"EuroSAT in {image_dir} is incomplete or altered: {details}. "
            "Re-extract EuroSAT.zip (27,000 images in all)."
        )
    return listed


def _cache_key(image_dir: Path, listed: list[tuple[str, int]]) -> str:
    digest = hashlib.sha256()
    for relative, label in listed:
        stat = (image_dir / relative).stat()
        digest.update(
            f"{relative}\t{label}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode()
        )
    return digest.hexdigest()[:20]


def _decode_checked(path: Path) -> torch.Tensor:
    """Decode one JPEG; raise DataError naming the file if it is not 64x64 RGB."""
    try:
        image = torchvision.io.decode_image(
            torchvision.io.read_file(str(path)),
            mode=torchvision.io.ImageReadMode.UNCHANGED,
        )
    except Exception as error:
        raise DataError(
            f"Cannot decode {path}: {error}. The file is corrupt; restore it from "
            "EuroSAT.zip (or delete the folder and download again)."
        ) from error
    if tuple(image.shape) != (3, IMAGE_SIZE, IMAGE_SIZE):
        channels, height, width = (
            (1, *image.shape[-2:]) if image.dim() == 2 else image.shape
        )
        raise DataError(
            f"{path} is {width}x{height} with {channels} channel(s); every EuroSAT "
            "image "
            f"must be {IMAGE_SIZE}x{IMAGE_SIZE} RGB. Restore the original file."
        )
    return image


def _decode_all(image_dir: Path, relatives: list[str], progress: bool) -> torch.Tensor:
    images = torch.empty((len(relatives), 3, IMAGE_SIZE, IMAGE_SIZE), dtype=torch.uint8)
    bar = tqdm(
        total=len(relatives), desc="Decoding EuroSAT", unit="img", disable=not progress
    )
    for start in range(0, len(relatives), _DECODE_CHUNK):
        chunk = relatives[start : start + _DECODE_CHUNK]
        encoded = [torchvision.io.read_file(str(image_dir / r)) for r in chunk]
        try:
            decoded = torchvision.io.decode_jpeg(encoded)
            if any(
                tuple(image.shape) != (3, IMAGE_SIZE, IMAGE_SIZE) for image in decoded
            ):
                raise ValueError("unexpected shape")
        except Exception:
            # Batched decoding does not say which file failed: find it one by one.
            decoded = [_decode_checked(image_dir / r) for r in chunk]
        images[start : start + len(chunk)] = torch.stack(decoded)
        bar.update(len(chunk))
    bar.close()
    return images


def load_eurosat(
    root: str | os.PathLike | None = None,
    *,
    download: bool = True,
    use_cache: bool = True,
    progress: bool = True,
) -> EuroSAT:
    """Find, verify and decode all 27,000 EuroSAT images into memory.

    Checks: 10 class folders, the published count per class, every image a
    64x64 RGB JPEG that decodes. The decoded tensor is cached under
    ``cache_dir()``; the cache is keyed on file names, sizes and times, so a
    changed file is decoded and checked again.
    """
    image_dir = find_eurosat(root, download=download)
    listed = _list_images(image_dir)
    relatives = [relative for relative, _ in listed]
    labels = torch.tensor([label for _, label in listed], dtype=torch.int64)

    cache_file = cache_dir() / f"eurosat-{_cache_key(image_dir, listed)}.pt"
    if use_cache and cache_file.exists():
        try:
            cached = torch.load(cache_file, weights_only=True)
            if cached["files"] == relatives:
                logger.info("Loaded decoded EuroSAT from cache %s", cache_file)
                return EuroSAT(cached["images"], labels, relatives)
        except Exception as error:  # a truncated cache is re-made, never trusted
            logger.warning(
                "Ignoring unreadable cache %s (%s); decoding again.", cache_file, error
            )

    with warnings.catch_warnings():
        # torchvision 0.29 deprecates its decoders in favour of TorchCodec. They
        # still work and are about twice as fast as Pillow on these small JPEGs;
        # if a later torchvision removes them, decode with Pillow here instead.
        warnings.filterwarnings(
            "ignore", category=DeprecationWarning, module="torchvision"
        )
        images = _decode_all(image_dir, relatives, progress)
    if use_cache:
        _write_cache(cache_file, images, relatives)
    return EuroSAT(images, labels, relatives)


def _write_cache(cache_file: Path, images: torch.Tensor, relatives: list[str]) -> None:
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        partial = cache_file.with_suffix(f".tmp{os.getpid()}")
        torch.save({"images": images, "files": relatives}, partial)
        os.replace(partial, cache_file)
    except OSError as error:
        logger.warning(
            "Could not cache decoded EuroSAT in %s (%s); the next load decodes again. "
            "Set COURSE_CACHE_DIR to a writable folder to speed it up.",
            cache_file.parent,
            error,
        )


# --------------------------------------------------------------------------- splits
def split_indices(
    dataset: EuroSAT,
    seed: int = SPLIT_SEED,
    fractions: tuple[float, float, float] = SPLIT_FRACTIONS,
) -> dict[str, torch.Tensor]:
    """A stratified train/val/test split that is identical on every machine.

    Within each class, images are ordered by SHA-256 of ``"<seed>/<file>"`` (no
    random generator, so no dependence on library versions) and cut at the
    given fractions. Returns index tensors keyed "train", "val", "test".
    """
    if (
        len(fractions) != 3
        or any(f <= 0 for f in fractions)
        or abs(sum(fractions) - 1) > 1e-9
    ):
        raise ValueError(
            f"fractions must be three positive numbers summing to 1, got {fractions}"
        )

    splits: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    labels = dataset.labels.tolist()
    for label in range(len(dataset.classes)):
        members = [i for i, y in enumerate(labels) if y == label]
        members.sort(
            key=lambda i: hashlib.sha256(f"{seed}/{dataset.files[i]}".encode()).digest()
        )
        n_train = round(len(members) * fractions[0])
        n_val = round(len(members) * fractions[1])
        splits["train"] += members[:n_train]
        splits["val"] += members[n_train : n_train + n_val]
        splits["test"] += members[n_train + n_val :]
    return {
        name: torch.tensor(indices, dtype=torch.int64)
        for name, indices in splits.items()
    }


def _first_per_class(
    indices: torch.Tensor, labels: torch.Tensor, per_class: int
) -> torch.Tensor:
    """The first ``per_class`` indices of every class, keeping their order."""
    kept, seen = [], {}
    for index in indices.tolist():
        label = int(labels[index])
        if seen.get(label, 0) < per_class:
            kept.append(index)
            seen[label] = seen.get(label, 0) + 1
    return torch.tensor(kept, dtype=torch.int64)


class ImageDataset(Dataset):
    """Normalised images from an in-memory uint8 tensor.

    Item: (image float32 (3, 64, 64) normalised with ``mean``/``std``, label int).
    ``augment`` is applied to the uint8 image before normalising (training only).
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        mean: torch.Tensor,
        std: torch.Tensor,
        augment=None,
    ) -> None:
        self.images = images
        self.labels = labels
        self.mean = mean.view(3, 1, 1).float()
        self.std = std.view(3, 1, 1).float()
        self.augment = augment

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index]
        if self.augment is not None:
            image = self.augment(image)
        return normalize(image, self.mean, self.std), int(self.labels[index])


def normalize(
    images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor
) -> torch.Tensor:
    """uint8 images (..., 3, H, W) in 0-255 to float32 ``(x / 255 - mean) / std``."""
    return (images.float() / 255 - mean.view(3, 1, 1)) / std.view(3, 1, 1)


def denormalize(
    images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor
) -> torch.Tensor:
    """Normalised float images back to 0-1 floats, for display."""
    return (images * std.view(3, 1, 1) + mean.view(3, 1, 1)).clamp(0, 1)


def channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of uint8 images (N, 3, H, W), on the 0-1 scale.

    Counts how often each of the 256 values occurs per channel, which is exact
    and much faster than converting every pixel to float.
    """
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(
            "expected uint8 images (N, 3, H, W), "
            f"got {images.dtype} {tuple(images.shape)}"
        )
    values = torch.arange(256, dtype=torch.float64) / 255
    mean, std = torch.empty(3, dtype=torch.float64), torch.empty(3, dtype=torch.float64)
    for channel in range(3):
        counts = torch.bincount(images[:, channel].reshape(-1), minlength=256).double()
        total = counts.sum()
        mean[channel] = (counts * values).sum() / total
        std[channel] = ((counts * (values - mean[channel]) ** 2).sum() / total).sqrt()
    return mean.float(), std.float()


@dataclass
class Splits:
    """Train/val/test datasets that share one normalisation (from train only)."""

    train: ImageDataset
    val: ImageDataset
    test: ImageDataset
    classes: tuple[str, ...]
    mean: torch.Tensor
    std: torch.Tensor
    indices: dict[str, torch.Tensor]
    source: EuroSAT


def eurosat_splits(
    root: str | os.PathLike | None = None,
    *,
    fast: bool | None = None,
    augment=None,
    dataset: EuroSAT | None = None,
    normalization: dict | tuple[list[float], list[float]] | None = None,
    train_per_class: int | None = None,
    progress: bool = True,
) -> Splits:
    """EuroSAT as train/val/test datasets, normalised with training statistics.

    ``fast`` (default: ``COURSE_FAST``) keeps only the first images of every
    class in train and val (``FAST_PER_CLASS``); the test split is always whole,
    so a test accuracy means the same in both modes. ``augment`` is a transform
    on uint8 images (3, 64, 64), applied to the training set only.
    ``normalization`` ((mean, std) or {"mean": ..., "std": ...}) replaces the
    training statistics, e.g. with those a trained model was fitted with
    (``metadata["normalization"]`` of ``models.load_course_cnn``).
    ``train_per_class`` keeps only the first that many training images of
    every class (a deliberately small training set).
    """
    fast = fast_mode() if fast is None else fast
    dataset = dataset if dataset is not None else load_eurosat(root, progress=progress)
    indices = split_indices(dataset)
    limits = dict(FAST_PER_CLASS) if fast else {}
    if train_per_class is not None:
        if train_per_class < 1:
            raise ValueError(f"train_per_class must be positive, got {train_per_class}")
        limits["train"] = min(train_per_class, limits.get("train", train_per_class))
    for name, per_class in limits.items():
        indices[name] = _first_per_class(indices[name], dataset.labels, per_class)

    if normalization is not None:
        if isinstance(normalization, dict):  # as stored in a checkpoint's metadata
            normalization = (normalization["mean"], normalization["std"])
        mean, std = (torch.tensor(v, dtype=torch.float32) for v in normalization)
    else:
        # Statistics from the training images only: nothing of val/test leaks in.
        mean, std = channel_stats(dataset.images[indices["train"]])

    def subset(name: str, transform=None) -> ImageDataset:
        chosen = indices[name]
        return ImageDataset(
            dataset.images[chosen], dataset.labels[chosen], mean, std, transform
        )

    return Splits(
        train=subset("train", augment),
        val=subset("val"),
        test=subset("test"),
        classes=dataset.classes,
        mean=mean,
        std=std,
        indices=indices,
        source=dataset,
    )


def make_loader(
    dataset: Dataset,
    batch_size: int = 64,
    *,
    shuffle: bool = False,
    seed: int | None = None,
    num_workers: int = 0,
) -> DataLoader:
    """A DataLoader with defaults that never hang in a notebook.

    ``num_workers=0`` by default: the images are already decoded in memory, so
    worker processes would add start-up cost and, on macOS and Windows, the
    spawn-in-a-notebook failures, without speeding anything up.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be 0 or more, got {num_workers}")
    generator = None
    if seed is not None:
        generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )


class RandomRot90(torch.nn.Module):
    """Rotate a (C, H, W) image by 0, 90, 180 or 270 degrees, chosen at random.

    Satellite images have no "up": every rotation is as plausible as the
    original, so rotating is a free way to show the model more examples.
    """

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        turns = int(torch.randint(4, ()))
        return torch.rot90(image, turns, dims=(-2, -1)) if turns else image


def satellite_augmentation() -> torch.nn.Module:
    """Random flips and quarter turns: label-preserving for images seen from above."""
    from torchvision.transforms import v2

    return v2.Compose(
        [v2.RandomHorizontalFlip(), v2.RandomVerticalFlip(), RandomRot90()]
    )

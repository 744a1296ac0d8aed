"""course_utils.data on the real EuroSAT images, and on damaged copies of them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
import torchvision

from course_utils import data

from .conftest import replace_with_copy


# ----------------------------------------------------------------- where data lives
def test_root_argument_beats_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "from-env"))
    assert data.data_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert data.data_root() == tmp_path / "from-env"


def test_root_defaults_to_repository_data_folder(monkeypatch):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    assert data.data_root() == Path(data.__file__).resolve().parent.parent / "data"


# ------------------------------------------------------------------- the real set
def test_real_set_is_complete_and_decoded(eurosat):
    assert eurosat.images.shape == (27000, 3, 64, 64)
    assert eurosat.images.dtype == torch.uint8
    assert eurosat.class_counts() == data.EXPECTED_COUNTS
    assert len(set(eurosat.files)) == 27000


def test_decoded_pixels_match_torchvision_dataset(eurosat, image_dir):
    reference = torchvision.datasets.EuroSAT(root=str(image_dir.parent.parent))
    for index in (0, 12345, 26999):
        relative = eurosat.files[index]
        path = str(image_dir / relative)
        position = [p for p, _ in reference.samples].index(path)
        image, label = reference[position]  # a PIL image, decoded by Pillow
        expected = torchvision.transforms.functional.pil_to_tensor(image)
        # libjpeg builds may round differently by one level; shapes and content agree
        assert (eurosat.images[index].int() - expected.int()).abs().max() <= 2
        assert reference.classes[label] == data.CLASSES[int(eurosat.labels[index])]


def test_reload_comes_from_cache_and_is_identical(eurosat, isolated_cache, image_dir):
    first = data.load_eurosat(image_dir.parent.parent, progress=False)
    cached = list(isolated_cache.glob("eurosat-*.pt"))
    assert len(cached) == 1
    second = data.load_eurosat(image_dir.parent.parent, progress=False)
    assert torch.equal(first.images, second.images)
    assert torch.equal(first.images, eurosat.images)


def test_unreadable_cache_is_ignored_and_rewritten(isolated_cache, image_dir):
    data.load_eurosat(image_dir.parent.parent, progress=False)
    cache_file = next(isolated_cache.glob("eurosat-*.pt"))
    cache_file.write_bytes(b"truncated")
    again = data.load_eurosat(image_dir.parent.parent, progress=False)
    assert again.images.shape == (27000, 3, 64, 64)
    assert cache_file.stat().st_size > 300_000_000


# ------------------------------------------------------------------------- splits
def _fingerprint(eurosat, indices):
    names = "\n".join(eurosat.files[i] for i in indices.tolist())
    return hashlib.sha256(names.encode()).hexdigest()[:16]


def test_split_is_identical_on_every_machine(eurosat):
    indices = data.split_indices(eurosat)
    # Fingerprints of the file lists: the split depends only on file names and the seed.
    assert _fingerprint(eurosat, indices["train"]) == "7663dffb14a7e004"
    assert _fingerprint(eurosat, indices["val"]) == "da295878ca7da415"
    assert _fingerprint(eurosat, indices["test"]) == "2e2d4b3acfaf0911"


def test_split_is_stratified_disjoint_and_complete(eurosat):
    indices = data.split_indices(eurosat)
    assert {k: len(v) for k, v in indices.items()} == {
        "train": 21600,
        "val": 2700,
        "test": 2700,
    }
    everything = torch.cat(list(indices.values()))
    assert len(everything.unique()) == 27000
    for name, expected in data.EXPECTED_COUNTS.items():
        label = data.CLASSES.index(name)
        counts = [int((eurosat.labels[v] == label).sum()) for v in indices.values()]
        assert counts == [expected * 8 // 10, expected // 10, expected // 10]


def test_other_seed_gives_other_split(eurosat):
    default = data.split_indices(eurosat)["test"]
    other = data.split_indices(eurosat, seed=1)["test"]
    assert not torch.equal(default.sort().values, other.sort().values)


def test_bad_split_fractions_are_refused(eurosat):
    with pytest.raises(ValueError, match="sum"):
        data.split_indices(eurosat, fractions=(0.8, 0.3, 0.1))


def test_normalisation_comes_from_training_split_only(splits, eurosat):
    train_images = eurosat.images[splits.indices["train"]]
    pixels = train_images.double() / 255
    expected_mean = pixels.mean(dim=(0, 2, 3))
    expected_std = pixels.permute(1, 0, 2, 3).reshape(3, -1).std(dim=1, correction=0)
    torch.testing.assert_close(splits.mean.double(), expected_mean, rtol=0, atol=1e-6)
    torch.testing.assert_close(splits.std.double(), expected_std, rtol=0, atol=1e-6)
    whole_mean, _ = data.channel_stats(eurosat.images)
    assert not torch.allclose(whole_mean, splits.mean, atol=1e-5)

    batch = torch.stack([splits.train[i][0] for i in range(0, 21600, 10)])
    assert batch.mean().abs() < 0.15 and (batch.std() - 1).abs() < 0.15


def test_fast_mode_keeps_first_images_per_class_and_whole_test(eurosat):
    fast = data.eurosat_splits(dataset=eurosat, fast=True)
    assert len(fast.train) == 10 * data.FAST_PER_CLASS["train"]
    assert len(fast.val) == 10 * data.FAST_PER_CLASS["val"]
    assert len(fast.test) == 2700
    full = data.split_indices(eurosat)
    assert set(fast.indices["train"].tolist()) <= set(full["train"].tolist())


# ------------------------------------------------------------------------ batches
def test_loader_batches_have_expected_shapes(splits):
    loader = data.make_loader(splits.val, batch_size=64)
    images, labels = next(iter(loader))
    assert images.shape == (64, 3, 64, 64) and images.dtype == torch.float32
    assert labels.shape == (64,) and labels.dtype == torch.int64
    assert len(loader) == 43  # ceil(2700 / 64)
    assert loader.num_workers == 0


def test_seeded_shuffle_is_reproducible(splits):
    first = next(iter(data.make_loader(splits.val, 32, shuffle=True, seed=3)))[1]
    again = next(iter(data.make_loader(splits.val, 32, shuffle=True, seed=3)))[1]
    other = next(iter(data.make_loader(splits.val, 32, shuffle=True, seed=4)))[1]
    assert torch.equal(first, again) and not torch.equal(first, other)


@pytest.mark.parametrize("arguments", [{"batch_size": 0}, {"num_workers": -1}])
def test_loader_rejects_bad_settings(splits, arguments):
    with pytest.raises(ValueError, match=next(iter(arguments))):
        data.make_loader(splits.val, **{"batch_size": 8, **arguments})


def test_augmentation_only_rearranges_pixels(eurosat):
    augment = data.satellite_augmentation()
    image = eurosat.images[0]
    torch.manual_seed(0)
    outputs = [augment(image) for _ in range(40)]
    assert all(
        torch.equal(o.flatten().sort().values, image.flatten().sort().values)
        for o in outputs
    )
    assert (
        len({o.numpy().tobytes() for o in outputs}) == 8
    )  # the 8 symmetries of a square


def test_normalize_and_denormalize_round_trip(splits, eurosat):
    image = eurosat.images[:4]
    restored = data.denormalize(
        data.normalize(image, splits.mean, splits.std), splits.mean, splits.std
    )
    torch.testing.assert_close(restored, image.float() / 255, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------- bad input
def test_absent_data_without_network_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DOWNLOAD_HOST", "eurosat.invalid")  # never resolves
    with pytest.raises(data.DataError) as error:
        data.load_eurosat(tmp_path, download=True, progress=False)
    message = str(error.value)
    assert "not reachable" in message
    assert (
        str(tmp_path / "eurosat" / "2750") in message and "COURSE_DATA_DIR" in message
    )
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_absent_data_without_download_says_where(tmp_path):
    with pytest.raises(data.DataError, match="EuroSAT not found"):
        data.load_eurosat(tmp_path, download=False)


def test_zip_extracted_one_level_off_is_recognised(tmp_path, image_dir):
    (tmp_path / "2750").symlink_to(image_dir, target_is_directory=True)
    with pytest.raises(data.DataError) as error:
        data.load_eurosat(tmp_path, download=False)
    assert "mv" in str(error.value) and str(tmp_path / "eurosat" / "2750") in str(
        error.value
    )


def test_missing_class_folder_is_named(linked_copy):
    root, target = linked_copy()
    (target / "Pasture").unlink()
    with pytest.raises(data.DataError, match="Pasture"):
        data.load_eurosat(root, download=False, progress=False)


def test_class_short_of_images_is_named_with_counts(linked_copy):
    root, target = linked_copy("River")
    for image in sorted((target / "River").iterdir())[:3]:
        image.unlink()
    with pytest.raises(data.DataError, match=r"River has 2497 \(expected 2500\)"):
        data.load_eurosat(root, download=False, progress=False)


def test_corrupt_image_is_named(linked_copy):
    root, target = linked_copy("Forest")
    broken = replace_with_copy(target / "Forest" / "Forest_42.jpg")
    broken.write_bytes(broken.read_bytes()[:300])  # a truncated JPEG
    with pytest.raises(data.DataError, match="Forest_42.jpg"):
        data.load_eurosat(root, download=False, progress=False)


def test_image_of_wrong_size_is_named(linked_copy, tmp_path):
    root, target = linked_copy("Highway")
    wrong = replace_with_copy(target / "Highway" / "Highway_7.jpg")
    image = torchvision.io.decode_jpeg(torchvision.io.read_file(str(wrong)))
    resized = torchvision.transforms.functional.resize(image, [32, 48], antialias=True)
    torchvision.io.write_jpeg(resized, str(wrong))
    with pytest.raises(data.DataError, match=r"Highway_7.jpg is 48x32 .*64x64 RGB"):
        data.load_eurosat(root, download=False, progress=False)


def test_cache_never_hides_a_file_damaged_later(linked_copy):
    root, target = linked_copy("SeaLake")
    data.load_eurosat(root, download=False, progress=False)  # writes the cache
    broken = replace_with_copy(target / "SeaLake" / "SeaLake_5.jpg")
    broken.write_bytes(b"not a jpeg at all")
    with pytest.raises(data.DataError, match="SeaLake_5.jpg"):
        data.load_eurosat(root, download=False, progress=False)


def test_empty_class_folder_is_named(linked_copy):
    root, target = linked_copy("Industrial")
    for image in (target / "Industrial").iterdir():
        image.unlink()
    with pytest.raises(data.DataError, match="Industrial"):
        data.load_eurosat(root, download=False, progress=False)

"""Interactive explorers and quizzes for the notebooks."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
import torch

from . import ops, optim, plots

# --- Convolution explorer (03_convolution) ---------------------------------------


def classic_kernels() -> dict[str, torch.Tensor]:
    """The lecture's filters as float32 (k, k) kernels, keyed by name."""
    ones = torch.ones(3, 3)
    return {
        "identity 3x3": torch.tensor([[0.0, 0, 0], [0, 1, 0], [0, 0, 0]]),
        "edge (Laplacian) 3x3": torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]),
        "edge (all directions) 3x3": torch.tensor(
            [[-1.0, -1, -1], [-1, 8, -1], [-1, -1, -1]]
        ),
        "sharpen 3x3": torch.tensor([[0.0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
        "box blur 3x3": ones / 9,
        "box blur 7x7": torch.ones(7, 7) / 49,
        "Gaussian blur 3x3": torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16,
    }


class ConvExplorer(widgets.VBox):
    """Pick a kernel, stride, padding and dilation; see the output and its size.

    image: one grayscale image, float (H, W). The output is computed with
    ``ops.conv2d`` and its size with ``ops.output_size``; the drawing shows
    the zero-padded input (padding outlined) next to the output, on the same
    pixel scale, so a stride of 2 visibly halves the picture.

    Attributes a notebook or test can drive: ``kernel`` (Dropdown), ``stride``,
    ``padding``, ``dilation`` (IntSliders); after each change ``size_label``
    (HTML) states the output size, ``result`` holds the output (H', W') and
    ``picture`` (Image) shows the new drawing as PNG bytes.
    """

    def __init__(
        self,
        image: torch.Tensor,
        kernels: Mapping[str, torch.Tensor] | None = None,
        max_stride: int = 4,
        max_padding: int = 4,
        max_dilation: int = 3,
    ) -> None:
        if image.dim() != 2:
            raise ValueError(
                f"image must be one grayscale image (H, W), got {tuple(image.shape)}"
            )
        self.image = image.detach().float().cpu()
        self.kernels = dict(kernels) if kernels is not None else classic_kernels()
        self.kernel = widgets.Dropdown(options=list(self.kernels), description="kernel")
        self.stride = widgets.IntSlider(1, min=1, max=max_stride, description="stride")
        self.padding = widgets.IntSlider(
            0, min=0, max=max_padding, description="padding"
        )
        self.dilation = widgets.IntSlider(
            1, min=1, max=max_dilation, description="dilation"
        )
        self.size_label = widgets.HTML()
        self.picture = widgets.Image(format="png")
        self.result: torch.Tensor | None = None
        for control in (self.kernel, self.stride, self.padding, self.dilation):
            control.observe(self._update, names="value")
        controls = widgets.HBox(
            [
                widgets.VBox([self.kernel, self.stride]),
                widgets.VBox([self.padding, self.dilation]),
            ]
        )
        super().__init__([controls, self.size_label, self.picture])
        self._update()

    def _update(self, change=None) -> None:
        kernel = self.kernels[self.kernel.value]
        stride, padding = self.stride.value, self.padding.value
        dilation = self.dilation.value
        height, width = self.image.shape
        size = f"{kernel.shape[0]}x{kernel.shape[1]}"
        try:
            out_h = ops.output_size(height, kernel.shape[0], stride, padding, dilation)
            out_w = ops.output_size(width, kernel.shape[1], stride, padding, dilation)
        except ValueError as error:
            self.result = None
            self.size_label.value = f"<b>no output:</b> {error}"
            return

        self.result = ops.conv2d(
            self.image[None, None],
            kernel[None, None].float(),
            stride=stride,
            padding=padding,
            dilation=dilation,
        )[0, 0]
        self.size_label.value = (
            f"input {height}x{width}, kernel {size}, stride {stride}, "
            f"padding {padding}, dilation {dilation} &rarr; <b>output "
            f"{out_h}x{out_w}</b> = floor(({height} + 2&middot;{padding} &minus; "
            f"{dilation}&middot;({kernel.shape[0]} &minus; 1) &minus; 1) / "
            f"{stride}) + 1"
        )
        self.picture.value = _figure_png(self._draw())

    def _draw(self):
        from matplotlib.figure import Figure
        from matplotlib.patches import Rectangle

        padding = self.padding.value
        padded = torch.nn.functional.pad(self.image, (padding,) * 4)
        height, width = padded.shape
        figure = Figure(figsize=(9, 4.2))
        input_axis, output_axis = figure.subplots(1, 2)
        input_axis.imshow(padded.numpy(), cmap="gray", extent=(0, width, height, 0))
        if padding:
            input_axis.add_patch(
                Rectangle(
                    (padding, padding),
                    self.image.shape[1],
                    self.image.shape[0],
                    fill=False,
                    edgecolor="tab:red",
                    linewidth=1.5,
                )
            )
        input_axis.set_title(f"input with padding {padding}: {height}x{width}")
        out_h, out_w = self.result.shape
        output_axis.imshow(
            self.result.numpy(), cmap="gray", extent=(0, out_w, out_h, 0)
        )
        output_axis.set_title(f"output: {out_h}x{out_w}")
        for axis in (input_axis, output_axis):  # same scale: one pixel, one unit
            axis.set_xlim(0, width)
            axis.set_ylim(height, 0)
        figure.tight_layout()
        return figure


def _figure_png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=72)
    return buffer.getvalue()


# --- Optimizer explorer (02_optimizers) -------------------------------------------


@dataclass(frozen=True)
class Surface:
    """A 2-D loss surface for watching optimizers move.

    loss: maps float points (..., 2) to losses (...); extent: (w1_low, w1_high,
    w2_low, w2_high) to draw; start: where every optimizer begins.
    """

    loss: Callable[[torch.Tensor], torch.Tensor]
    extent: tuple[float, float, float, float]
    start: tuple[float, float]


def _valley(w: torch.Tensor) -> torch.Tensor:
    """Curvature 0.04 along w1 and 4 along w2: condition number 100."""
    return 0.02 * w[..., 0] ** 2 + 2.0 * w[..., 1] ** 2


def _saddle(w: torch.Tensor) -> torch.Tensor:
    """A saddle point at (0, 0) between two minima at (0, -1) and (0, 1)."""
    return 0.5 * w[..., 0] ** 2 + 0.25 * w[..., 1] ** 4 - 0.5 * w[..., 1] ** 2


def _bumpy(w: torch.Tensor) -> torch.Tensor:
    """A bowl with ripples: the global minimum at (0, 0), local minima around it."""
    bowl = 0.1 * (w[..., 0] ** 2 + w[..., 1] ** 2)
    return bowl - torch.cos(1.5 * w[..., 0]) * torch.cos(1.5 * w[..., 1])


SURFACES: dict[str, Surface] = {
    "ill-conditioned valley": Surface(_valley, (-5.0, 5.0, -2.5, 2.5), (-4.5, 2.0)),
    "saddle": Surface(_saddle, (-2.5, 2.5, -1.8, 1.8), (-2.0, 0.001)),
    "local minima": Surface(_bumpy, (-5.0, 5.0, -5.0, 5.0), (4.2, 4.2)),
}

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "SGD": optim.SGD,
    "Momentum": optim.Momentum,
    "Adagrad": optim.Adagrad,
    "RMSprop": optim.RMSprop,
    "Adadelta": optim.Adadelta,
    "Adam": optim.Adam,
}

# Settings that behave well on all three surfaces (found by trying).
REFERENCE_SETTINGS: dict[str, dict] = {
    "SGD": {"lr": 0.4},
    "Momentum": {"lr": 0.05, "momentum": 0.9},
    "Adagrad": {"lr": 0.5},
    "RMSprop": {"lr": 0.05},
    "Adadelta": {"lr": 10.0},
    "Adam": {"lr": 0.1},
}


def trajectory(
    optimizer_class: type[torch.optim.Optimizer],
    surface: Surface,
    steps: int = 100,
    **hyperparameters,
) -> np.ndarray:
    """Where ``optimizer_class`` takes w, starting at ``surface.start``.

    Returns float64 positions (steps + 1, 2), the start first; fewer rows when
    w stops being finite (the optimizer diverged).
    """
    w = torch.tensor(surface.start, dtype=torch.float64, requires_grad=True)
    optimizer = optimizer_class([w], **hyperparameters)
    path = [w.detach().clone()]
    for _ in range(steps):
        optimizer.zero_grad()
        loss = surface.loss(w)
        loss.backward()
        optimizer.step()
        if not torch.isfinite(w).all():
            break
        path.append(w.detach().clone())
    return torch.stack(path).numpy()


def explorer_settings(name: str, lr: float, momentum: float) -> dict:
    """The hyperparameters the explorer's sliders give optimizer ``name``.

    momentum is Momentum's momentum and Adam's beta1; the others have none.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {list(OPTIMIZERS)}")
    if name == "Momentum":
        return {"lr": lr, "momentum": momentum}
    if name == "Adam":
        return {"lr": lr, "betas": (momentum, 0.999)}
    return {"lr": lr}


class OptimizerExplorer(widgets.VBox):
    """Steer one optimizer over a 2-D loss surface; the other five stay for reference.

    Attributes a notebook or test can drive: ``surface`` and ``optimizer``
    (Dropdowns), ``lr`` (log slider), ``momentum`` (Momentum's momentum and
    Adam's beta1) and ``steps`` (sliders). Choosing an optimizer resets lr and
    momentum to its ``REFERENCE_SETTINGS``. After each change ``path`` holds
    the steered optimizer's positions (steps + 1, 2), ``status`` (HTML) says
    where it ended or why the settings are invalid, and ``picture`` (Image)
    shows the new drawing as PNG bytes.
    """

    def __init__(
        self, surfaces: Mapping[str, Surface] | None = None, steps: int = 100
    ) -> None:
        self.surfaces = dict(surfaces) if surfaces is not None else dict(SURFACES)
        self.surface = widgets.Dropdown(
            options=list(self.surfaces), description="surface"
        )
        self.optimizer = widgets.Dropdown(
            options=list(OPTIMIZERS), value="Momentum", description="optimizer"
        )
        self.lr = widgets.FloatLogSlider(
            value=0.05,
            base=10,
            min=-3,
            max=1.5,
            step=0.05,
            readout_format=".2g",
            description="lr",
        )
        self.momentum = widgets.FloatSlider(
            value=0.9, min=0.0, max=0.99, step=0.01, description="momentum"
        )
        self.steps = widgets.IntSlider(
            steps, min=10, max=300, step=10, description="steps"
        )
        self.status = widgets.HTML()
        self.picture = widgets.Image(format="png")
        self.path: np.ndarray | None = None
        self._references: dict[tuple[str, int], dict[str, np.ndarray]] = {}
        self._holding = False

        self.optimizer.observe(self._choose_optimizer, names="value")
        for control in (self.surface, self.lr, self.momentum, self.steps):
            control.observe(self._update, names="value")
        controls = widgets.HBox(
            [
                widgets.VBox([self.surface, self.optimizer]),
                widgets.VBox([self.lr, self.momentum, self.steps]),
            ]
        )
        super().__init__([controls, self.status, self.picture])
        self._choose_optimizer()

    def _choose_optimizer(self, change=None) -> None:
        reference = REFERENCE_SETTINGS[self.optimizer.value]
        self._holding = True  # one redraw, not one per slider moved here
        try:
            self.lr.value = reference["lr"]
            self.momentum.value = reference.get("momentum", 0.9)
        finally:
            self._holding = False
        self._update()

    def _reference_paths(self, surface_name: str, steps: int) -> dict:
        key = (surface_name, steps)
        if key not in self._references:
            surface = self.surfaces[surface_name]
            self._references[key] = {
                name: trajectory(OPTIMIZERS[name], surface, steps, **settings)
                for name, settings in REFERENCE_SETTINGS.items()
            }
        return self._references[key]

    def _update(self, change=None) -> None:
        if self._holding:
            return
        name, surface_name = self.optimizer.value, self.surface.value
        surface, steps = self.surfaces[surface_name], self.steps.value
        # The log slider holds 10 ** (k / 20), e.g. 0.0501 for 0.05: two
        # significant digits give the value it shows and the reference values.
        lr, momentum = float(f"{self.lr.value:.2g}"), round(self.momentum.value, 2)
        settings = explorer_settings(name, lr, momentum)
        try:
            self.path = trajectory(OPTIMIZERS[name], surface, steps, **settings)
        except ValueError as error:
            self.path = None
            self.status.value = f"<b>ValueError:</b> {error}"
            return

        end = self.path[-1]
        final_loss = surface.loss(torch.from_numpy(end)).item()
        diverged = " (diverged)" if len(self.path) <= steps else ""
        shown = ", ".join(
            f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
            for key, value in settings.items()
        )
        self.status.value = (
            f"{name}({shown}) after {len(self.path) - 1} steps{diverged}: "
            f"w = ({end[0]:.3f}, {end[1]:.3f}), loss {final_loss:.4f}; "
            "faint lines: the other optimizers at their reference settings"
        )
        paths = dict(self._reference_paths(surface_name, steps))
        paths[name] = self.path
        figure = plots.optimizer_trajectories(
            {surface_name: (surface.loss, surface.extent)},
            {surface_name: paths},
            highlight=name,
        )
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
        self.picture.value = buffer.getvalue()


# --- Quizzes (the end of every lesson) ---------------------------------------------

# A check mark and a cross from fonts every machine has (emoji fonts are often
# missing on lab machines, and then the emoji shows as an empty box).
RIGHT = '<span style="color: #1a7f37; font-weight: bold">&#10003;</span>'
WRONG = '<span style="color: #cf222e; font-weight: bold">&#10007;</span>'

# Every question in course_utils/quizzes/NN_topic.json has these keys.
QUIZ_QUESTION_KEYS = ("prompt", "options", "answer", "explanation")
QUIZ_OPTIONAL_KEYS = ("feedback",)  # one entry per option: a string or null


def _quiz_folder(directory: str | None):
    from importlib.resources import files
    from pathlib import Path

    if directory is not None:
        return Path(directory)
    return Path(str(files("course_utils") / "quizzes"))


def quiz_lessons(directory: str | None = None) -> list[str]:
    """The lessons that have a quiz, e.g. ["01_recap", "02_optimizers", ...]."""
    folder = _quiz_folder(directory)
    return sorted(path.stem for path in folder.glob("*.json"))


def load_quiz(lesson: str, directory: str | None = None) -> dict:
    """The checked questions of ``lesson``, as plain data.

    lesson: a quiz file's name without ``.json``, e.g. "03_convolution";
    directory: where the files are (default: the package's ``quizzes/``).
    Returns {"lesson": str, "title": str, "questions": [question, ...]}, each
    question {"prompt": str, "options": [str, ...], "answer": index of the
    right option, "explanation": str, "feedback": [str or None per option]}.

    Raises FileNotFoundError (listing the lessons there are) when the file is
    missing, and ValueError naming the file and the problem when it is not
    valid JSON or a question lacks a key, has an answer out of range, etc.
    """
    import json

    folder = _quiz_folder(directory)
    path = folder / f"{lesson}.json"
    if not path.is_file():
        known = ", ".join(quiz_lessons(directory)) or "none"
        raise FileNotFoundError(
            f"No quiz for lesson {lesson!r}: {path} does not exist. "
            f"Quizzes there: {known}."
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(
            f"Quiz file {path} is not valid JSON: {error.msg} at line "
            f"{error.lineno}, column {error.colno}."
        ) from error
    return _checked_quiz(document, lesson, path)


def _checked_quiz(document, lesson: str, path) -> dict:
    """Validate a parsed quiz file; return it with every question's feedback filled."""

    def problem(message: str) -> ValueError:
        return ValueError(f"Quiz file {path}: {message}.")

    if not isinstance(document, dict):
        raise problem("the top level must be an object with a 'questions' list")
    questions = document.get("questions")
    if not isinstance(questions, list) or not questions:
        raise problem("'questions' must be a non-empty list")
    title = document.get("title", lesson)
    if not isinstance(title, str):
        raise problem("'title' must be a string")

    checked = []
    for number, question in enumerate(questions, start=1):
        where = f"question {number}"
        if not isinstance(question, dict):
            raise problem(f"{where} must be an object")
        missing = [key for key in QUIZ_QUESTION_KEYS if key not in question]
        if missing:
            raise problem(f"{where} lacks {', '.join(map(repr, missing))}")
        unknown = sorted(
            set(question) - set(QUIZ_QUESTION_KEYS) - set(QUIZ_OPTIONAL_KEYS)
        )
        if unknown:
            raise problem(
                f"{where} has unknown key(s) {', '.join(map(repr, unknown))}; "
                f"allowed: {', '.join(QUIZ_QUESTION_KEYS + QUIZ_OPTIONAL_KEYS)}"
            )
        for key in ("prompt", "explanation"):
            if not isinstance(question[key], str) or not question[key].strip():
                raise problem(f"{where}: {key!r} must be a non-empty string")
        options = question["options"]
        if (
            not isinstance(options, list)
            or len(options) < 2
            or not all(isinstance(o, str) and o.strip() for o in options)
        ):
            raise problem(f"{where}: 'options' must be a list of 2 or more strings")
        if len(set(options)) != len(options):
            raise problem(f"{where}: two options have the same text")
        answer = question["answer"]
        if type(answer) is not int or not 0 <= answer < len(options):
            raise problem(
                f"{where}: 'answer' must be the index of the right option, "
                f"0 to {len(options) - 1}, got {answer!r}"
            )
        feedback = question.get("feedback", [None] * len(options))
        if (
            not isinstance(feedback, list)
            or len(feedback) != len(options)
            or not all(entry is None or isinstance(entry, str) for entry in feedback)
        ):
            raise problem(
                f"{where}: 'feedback' must list one string or null per option "
                f"({len(options)})"
            )
        checked.append({**question, "feedback": list(feedback)})
    return {"lesson": lesson, "title": title, "questions": checked}


class QuizQuestion(widgets.VBox):
    """One question: its prompt, the options (none chosen), Check, and feedback.

    Attributes a test can drive: ``choices`` (RadioButtons whose value is the
    chosen option's index, None until one is chosen), ``check`` (Button) and
    ``feedback`` (HTML, empty until Check is clicked). ``correct`` is True or
    False after a check, None before.
    """

    def __init__(self, number: int, question: dict) -> None:
        from html import escape

        self.question = question
        self.correct: bool | None = None
        self.on_checked: Callable[[], None] | None = None  # the quiz's score update
        self.prompt = widgets.HTML(f"<b>{number}. {escape(question['prompt'])}</b>")
        self.choices = widgets.RadioButtons(
            options=[(text, index) for index, text in enumerate(question["options"])],
            value=None,
            layout=widgets.Layout(width="100%"),
        )
        self.check = widgets.Button(description="Check", tooltip="Check your answer")
        self.feedback = widgets.HTML()
        self.choices.observe(self._clear, names="value")
        self.check.on_click(self._check)
        super().__init__([self.prompt, self.choices, self.check, self.feedback])

    def _clear(self, change=None) -> None:
        self.correct = None
        self.feedback.value = ""

    def _check(self, button=None) -> None:
        from html import escape

        chosen, answer = self.choices.value, self.question["answer"]
        explanation = escape(self.question["explanation"])
        if chosen is None:
            self.correct = None
            self.feedback.value = "Choose an answer first, then click Check."
        elif chosen == answer:
            self.correct = True
            self.feedback.value = f"{RIGHT} <b>Correct.</b> {explanation}"
        else:
            self.correct = False
            hint = self.question["feedback"][chosen]
            hint = f" {escape(hint)}" if hint else ""
            right = escape(self.question["options"][answer])
            self.feedback.value = (
                f"{WRONG} <b>Not quite.</b>{hint}<br>The answer is "
                f"<i>{right}</i>: {explanation}"
            )
        if self.on_checked is not None:
            self.on_checked()


class Quiz(widgets.VBox):
    """A lesson's quiz: a title, one ``QuizQuestion`` per question, and a score.

    ``questions`` lists the QuizQuestion widgets; ``score`` (HTML) counts the
    questions whose last check was right.
    """

    def __init__(self, quiz_data: dict) -> None:
        from html import escape

        self.data = quiz_data
        self.questions = [
            QuizQuestion(number, question)
            for number, question in enumerate(quiz_data["questions"], start=1)
        ]
        self.score = widgets.HTML()
        for question in self.questions:
            question.on_checked = self._update_score
        title = widgets.HTML(f"<h3>Quiz: {escape(quiz_data['title'])}</h3>")
        super().__init__([title, *self.questions, self.score])
        self._update_score()

    def _update_score(self) -> None:
        right = sum(question.correct is True for question in self.questions)
        self.score.value = f"Right so far: {right} of {len(self.questions)}"


def quiz(lesson: str, directory: str | None = None) -> Quiz:
    """The interactive quiz for ``lesson`` (e.g. "04_pooling"), ready to display.

    Each question shows its options with none chosen, a Check button, and
    feedback saying right or wrong, with the explanation. Errors as for
    ``load_quiz``.
    """
    return Quiz(load_quiz(lesson, directory))


# --- Saliency explorer (06_saliency) ----------------------------------------------


class SaliencyExplorer(widgets.VBox):
    """Pick a test image, a patch size and a stride; see both saliency maps.

    model: a course classifier (``predict_proba``); images: normalised float
    (N, 3, H, W); labels: (N,) true classes; mean, std: the normalisation (3,),
    to show the images in colour. The occlusion map measures the drop in the
    probability of the true class, with the patch filled with 0 (the mean
    colour of the training set).

    Attributes a notebook or test can drive: ``image`` (Dropdown), ``patch_size``
    and ``stride`` (IntSliders; the stride never exceeds the patch); after each
    change ``occlusion`` and ``gradient`` hold the maps (H, W), ``summary``
    (HTML) names the prediction and ``picture`` (Image) shows the drawing.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        images: torch.Tensor,
        labels: torch.Tensor,
        classes: list[str] | tuple[str, ...],
        mean: torch.Tensor,
        std: torch.Tensor,
        max_patch: int = 32,
    ) -> None:
        from . import data, saliency

        if images.dim() != 4 or len(images) != len(labels) or len(images) == 0:
            raise ValueError(
                "images must be (N, 3, H, W) with one label each, got images "
                f"{tuple(images.shape)} and {len(labels)} labels"
            )
        self.model, self.images, self.labels = model, images, labels
        self.classes = classes
        self.shown = data.denormalize(
            images.detach().cpu(), torch.as_tensor(mean), torch.as_tensor(std)
        )
        self._saliency = saliency
        options = [
            (f"{index}: {classes[int(label)]}", index)
            for index, label in enumerate(labels)
        ]
        self.image = widgets.Dropdown(options=options, description="image")
        max_patch = min(max_patch, *images.shape[-2:])
        self.patch_size = widgets.IntSlider(
            8, min=2, max=max_patch, description="patch size", continuous_update=False
        )
        self.stride = widgets.IntSlider(
            4, min=1, max=8, description="stride", continuous_update=False
        )
        self.summary = widgets.HTML()
        self.picture = widgets.Image(format="png")
        self.occlusion: torch.Tensor | None = None
        self.gradient: torch.Tensor | None = None
        self._adjusting = False
        for control in (self.image, self.patch_size, self.stride):
            control.observe(self._changed, names="value")
        controls = widgets.HBox(
            [self.image, widgets.VBox([self.patch_size, self.stride])]
        )
        super().__init__([controls, self.summary, self.picture])
        self._update()

    def _changed(self, change) -> None:
        if change["owner"] is self.stride and self._adjusting:
            return  # the patch size changed it; _update runs once, below
        if change["owner"] is self.patch_size:
            self._adjusting = True
            try:
                self.stride.max = self.patch_size.value  # clamps the value too
            finally:
                self._adjusting = False
        self._update()

    def _update(self, change=None) -> None:
        index = self.image.value
        image, label = self.images[index], int(self.labels[index])
        patch_size, stride = self.patch_size.value, self.stride.value
        probabilities = self.model.predict_proba(image[None])[0]
        predicted = int(probabilities.argmax())
        self.occlusion = self._saliency.occlusion_map(
            self.model, image, label, patch_size=patch_size, stride=stride
        )
        self.gradient = self._saliency.gradient_saliency(self.model, image, label)
        verdict = "right" if predicted == label else "wrong"
        self.summary.value = (
            f"true class <b>{self.classes[label]}</b> (p = "
            f"{probabilities[label]:.2f}); predicted <b>{self.classes[predicted]}"
            f"</b> (p = {probabilities[predicted]:.2f}), {verdict}. "
            f"{patch_size}x{patch_size} patch every {stride} pixels: largest drop "
            f"{self.occlusion.max():.2f}"
        )
        figure = plots.saliency_maps(
            self.shown[index : index + 1],
            {
                "occlusion: drop in p(true class)": self.occlusion[None],
                "gradient saliency": self.gradient[None],
            },
            overlay=["occlusion: drop in p(true class)"],
        )
        self.picture.value = _figure_png(figure)

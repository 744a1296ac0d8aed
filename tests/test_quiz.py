"""Lesson quizzes: every question file is valid, and the widgets give feedback."""

from __future__ import annotations

import json

import ipywidgets
import pytest

from course_utils import widgets

LESSONS = [
    "01_recap",
    "02_optimizers",
    "03_convolution",
    "04_pooling",
    "05_classification",
    "06_saliency",
]
LONGEST_OPTION = 100  # characters; a RadioButtons label does not wrap


def test_every_lesson_has_a_quiz():
    assert widgets.quiz_lessons() == LESSONS


@pytest.mark.parametrize("lesson", LESSONS)
def test_quiz_file_is_valid(lesson):
    quiz_data = widgets.load_quiz(lesson)

    assert quiz_data["lesson"] == lesson
    assert quiz_data["title"]
    assert len(quiz_data["questions"]) >= 3
    for question in quiz_data["questions"]:
        assert 0 <= question["answer"] < len(question["options"])
        assert question["explanation"].strip()
        assert question["feedback"][question["answer"]] is None  # never shown
        assert all(len(option) <= LONGEST_OPTION for option in question["options"])


@pytest.mark.parametrize("lesson", LESSONS)
def test_a_right_answer_says_so_and_explains(lesson):
    quiz = widgets.quiz(lesson)
    question = quiz.questions[0]
    expected = widgets.load_quiz(lesson)["questions"][0]

    question.choices.value = expected["answer"]
    question.check.click()

    assert "Correct" in question.feedback.value
    assert _plain(expected["explanation"]) in question.feedback.value
    assert question.correct is True
    assert f"Right so far: 1 of {len(quiz.questions)}" in quiz.score.value


def test_a_wrong_answer_gives_its_feedback_and_the_explanation():
    quiz = widgets.quiz("04_pooling")
    question = quiz.questions[0]  # max pooling a 4x4 matrix
    expected = widgets.load_quiz("04_pooling")["questions"][0]
    wrong = next(
        index
        for index, hint in enumerate(expected["feedback"])
        if hint and "average pooling" in hint
    )

    question.choices.value = wrong
    question.check.click()

    feedback = question.feedback.value
    assert "Not quite" in feedback
    assert "average pooling" in feedback
    assert _plain(expected["options"][expected["answer"]]) in feedback
    assert _plain(expected["explanation"]) in feedback
    assert "Correct" not in feedback
    assert question.correct is False
    assert "Right so far: 0 of" in quiz.score.value


def test_changing_the_answer_clears_the_feedback():
    question = widgets.quiz("03_convolution").questions[0]
    question.choices.value = 0
    question.check.click()
    assert question.feedback.value

    question.choices.value = 1
    assert question.feedback.value == ""
    assert question.correct is None


def test_widgets_start_with_nothing_chosen():
    quiz = widgets.quiz("01_recap")

    assert isinstance(quiz, ipywidgets.VBox)
    for question in quiz.questions:
        assert isinstance(question.choices, ipywidgets.RadioButtons)
        assert question.choices.value is None
        assert question.feedback.value == ""
        assert question.check.description == "Check"


def test_checking_without_an_answer_asks_for_one():
    question = widgets.quiz("02_optimizers").questions[0]
    question.check.click()

    assert "Choose an answer first" in question.feedback.value
    assert question.correct is None


def test_text_is_shown_as_text_not_html(tmp_path):
    _write(tmp_path, "x", {"questions": [_question(prompt="Is 1 < 2 <b>bold</b>?")]})
    question = widgets.quiz("x", directory=str(tmp_path)).questions[0]
    assert "1 &lt; 2 &lt;b&gt;bold&lt;/b&gt;" in question.prompt.value


# ------------------------------------------------------------- broken files
def _question(**changes) -> dict:
    question = {
        "prompt": "What is 1 + 1?",
        "options": ["1", "2", "3"],
        "answer": 1,
        "explanation": "One plus one is two.",
    }
    question.update(changes)
    return question


def _write(folder, lesson: str, document) -> None:
    text = document if isinstance(document, str) else json.dumps(document)
    (folder / f"{lesson}.json").write_text(text)


def test_a_missing_lesson_lists_the_quizzes_there_are():
    with pytest.raises(FileNotFoundError, match=r"07_transformers.*01_recap"):
        widgets.quiz("07_transformers")


@pytest.mark.parametrize(
    "document, problem",
    [
        ('{"questions": [', "not valid JSON"),
        ([], "top level must be an object"),
        ({"questions": []}, "'questions' must be a non-empty list"),
        ({"title": 3, "questions": [_question()]}, "'title' must be a string"),
        ({"questions": ["What?"]}, "question 1 must be an object"),
        (
            {"questions": [_question(), {"prompt": "Why?", "options": ["a", "b"]}]},
            "question 2 lacks 'answer', 'explanation'",
        ),
        ({"questions": [_question(answer=3)]}, "0 to 2, got 3"),
        ({"questions": [_question(answer=-1)]}, "0 to 2, got -1"),
        ({"questions": [_question(answer="2")]}, "index of the right option"),
        ({"questions": [_question(answer=True)]}, "index of the right option"),
        ({"questions": [_question(options=["only"])]}, "2 or more strings"),
        ({"questions": [_question(options=["a", "a", "b"])]}, "same text"),
        ({"questions": [_question(prompt="  ")]}, "'prompt' must be a non-empty"),
        ({"questions": [_question(explaination="typo")]}, "unknown key"),
        ({"questions": [_question(feedback=["x"])]}, "one string or null per"),
    ],
)
def test_malformed_files_name_the_file_and_the_problem(tmp_path, document, problem):
    _write(tmp_path, "99_broken", document)

    with pytest.raises(ValueError) as caught:
        widgets.load_quiz("99_broken", directory=str(tmp_path))

    assert "99_broken.json" in str(caught.value)
    assert problem in str(caught.value)
    with pytest.raises(ValueError, match="99_broken.json"):
        widgets.quiz("99_broken", directory=str(tmp_path))


def test_feedback_is_optional_and_filled_with_none(tmp_path):
    _write(tmp_path, "ok", {"title": "Sums", "questions": [_question()]})
    quiz_data = widgets.load_quiz("ok", directory=str(tmp_path))
    assert quiz_data["questions"][0]["feedback"] == [None, None, None]
    assert quiz_data["title"] == "Sums"


def _plain(text: str) -> str:
    """Text as the feedback HTML shows it (escaped), for comparisons."""
    from html import escape

    return escape(text)

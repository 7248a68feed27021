"""Lessons: every referenced preset exists; bodies are short plain-text paragraphs."""

import re

from initlab.lessons import LESSONS
from initlab.presets import PRESETS


def test_lessons_reference_existing_presets():
    assert len(LESSONS) >= 8
    for lesson in LESSONS:
        assert lesson.presets, lesson.title
        for name in lesson.presets:
            assert name in PRESETS, f"{lesson.title!r} refers to unknown preset {name!r}"


def test_bodies_are_3_to_8_sentences_without_latex():
    for lesson in LESSONS:
        n = len(re.findall(r"[.!?](?:\s|$)", lesson.body))
        assert 3 <= n <= 8, (lesson.title, n)
        assert "$" not in lesson.body and "\\" not in lesson.body


def test_the_derivations_carry_the_formulas():
    text = " ".join(lesson.body for lesson in LESSONS)
    for formula in ("Var(w) = 1/n", "2/(n + m)", "sqrt(6/(n + m))", "r^2/3", "Var(w) = 2/n", "1/(3n)"):
        assert formula in text, formula
    assert len({lesson.title for lesson in LESSONS}) == len(LESSONS)
    used = {name for lesson in LESSONS for name in lesson.presets}
    assert {"zero_init", "std1_explodes", "std001_vanishes", "he_relu", "xavier_relu", "he_range"} <= used

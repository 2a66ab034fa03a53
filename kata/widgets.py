"""The notebook's help cells: a button that opens the next hint, and the walkthrough, closed until
the learner asks for it or the check passes. Running these cells (Run All) only shows the buttons
and what was already opened; nothing opens unless the learner clicks."""

import ipywidgets as widgets
from IPython.display import Markdown, display

from kata import help as kata_help

WIDE = widgets.Layout(width="auto")
_walkthrough_views: dict[str, list] = {}  # kata id -> how to open each closed view
_hint_buttons: dict[str, widgets.Button] = {}  # the latest per kata, for the workbook's own tests


def hints(kata_id: str) -> None:
    texts = kata_help.help_for(kata_help.kata_by_id(kata_id)).hints
    shown = widgets.Output()
    button = widgets.Button(layout=WIDE, button_style="info", icon="lightbulb-o")
    note = widgets.HTML()

    def show(upto: int) -> None:
        shown.outputs = ()
        with shown:
            for title, text in texts[:upto]:
                display(Markdown(f"#### {title}\n\n{text}"))
        if upto < len(texts):
            title = texts[upto][0]
            button.description = f"Show {title[:1].lower()}{title[1:]}"
            button.layout.display = None
        else:
            button.layout.display = "none"
            note.value = "<i>That was the last hint. The walkthrough below explains the fix step by step.</i>"

    def click(_button) -> None:
        show(kata_help.open_hint(kata_id, kata_help.level(kata_id) + 1))

    button.on_click(click)
    show(min(kata_help.level(kata_id), len(texts)))
    _hint_buttons[kata_id] = button
    display(widgets.VBox([shown, button, note]))


def walkthrough(kata_id: str) -> None:
    from kata.held import HELD_MESSAGE, ask_the_room, is_held, revealed_text

    text = kata_help.help_for(kata_help.kata_by_id(kata_id)).walkthrough
    shown = widgets.Output()
    button = widgets.Button(description="Show the walkthrough now", layout=WIDE)
    if is_held(kata_help.root(), kata_id):
        button.description = "Ask for the walkthrough"
        with shown:
            display(Markdown(HELD_MESSAGE))

    def open_it(_button=None) -> None:
        nonlocal text
        if is_held(kata_help.root(), kata_id):  # held by the teacher: has it been revealed meanwhile?
            # Asked for: a brief question to the room. Opened by a passing check: only what is here.
            text = (ask_the_room(kata_help.root(), kata_id) if _button is not None
                    else revealed_text(kata_help.root(), kata_id)) or ""
            if not text:
                if _button is not None:
                    shown.outputs = ()
                    with shown:
                        display(Markdown(HELD_MESSAGE + " *(Not revealed yet.)*"))
                return
        if _button is not None:
            kata_help.open_walkthrough(kata_id)
        shown.outputs = ()
        with shown:
            display(Markdown(text))
        button.layout.display = "none"

    if kata_help.walkthrough_open(kata_id):
        open_it()
    elif is_held(kata_help.root(), kata_id):
        button.on_click(open_it)
        _walkthrough_views.setdefault(kata_id, []).append(open_it)
    else:
        with shown:
            display(Markdown(
                "The walkthrough shows the fix step by step, the tempting wrong fixes, and what to "
                "remember. It opens here by itself when the check passes. Opening it before then "
                "gives the answer away: try the hints first."))
        button.on_click(open_it)
        _walkthrough_views.setdefault(kata_id, []).append(open_it)
    display(widgets.VBox([shown, button]))


def check_finished(kata_id: str, passed: bool) -> None:
    """Open every closed walkthrough of this kata on a pass."""
    if not passed:
        return
    for open_it in _walkthrough_views.pop(kata_id, []):
        open_it()

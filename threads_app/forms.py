"""The admin's forms: JSON columns edited as rows of plain fields.

Each JSON column (content, attachments, metadata, tool resources) is one form
field whose widget renders rows of inputs and reads back any number of rows.
The field turns the rows into the API's request shape and hands it to the
rule in :mod:`threads_app.validation` that the API itself applies, so a value
is refused (next to its field, with the row at fault marked) or stored exactly
as the API would store it. A form shows one blank row of each kind to fill in;
with JavaScript, "Add another" buttons add more before saving (``rows.js``,
a static file, so a Content-Security-Policy without inline scripts holds).

What a browser sends back is not always what the page held: a textarea's line
breaks come back as CRLF, and a text input drops line breaks altogether. So a
row is compared with the stored value it shows as the browser would send it,
and a row left as it was keeps the stored value itself, byte for byte (a text
part's annotations included); only what was edited is rebuilt from its row.
"""

import re
from collections.abc import Callable
from typing import Any

from django import forms

from . import validation
from .ids import THREAD_PREFIX, id_start
from .items import THREADS_ROLES, conversation_part
from .markup import image_host
from .models import APIKey, Message, Thread


class Rows(list):
    """What a rows widget read from a submitted form (as opposed to a stored value)."""


def row_indices(data: Any, name: str) -> list[int]:
    """The row numbers submitted for ``name``, in order; gaps are fine."""
    pattern = re.compile(rf"{re.escape(name)}-(\d+)-")
    return sorted({int(match.group(1)) for key in data if (match := pattern.match(key))})


def get_list(data: Any, key: str) -> list[str]:
    return data.getlist(key) if hasattr(data, "getlist") else list(data.get(key) or [])


def split_ids(text: str) -> list[str]:
    return [item for item in re.split(r"[\s,]+", text or "") if item]


def typed_text(text: str) -> str:
    """Text from a textarea with its line breaks as ``\\n``, however the browser sent them."""
    return re.sub(r"\r\n?", "\n", text)


def as_input_sends(text: str) -> str:
    """What a browser sends back from a text input that showed ``text``: no line breaks."""
    return re.sub(r"[\r\n]", "", text)


def content_rows(stored: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Stored content parts as flat rows, each with ``part``: its index in ``stored``.

    ``{"type", "text"}`` for text; ``{"type", "url" or "file_id", "detail"}`` for images.
    """
    rows = []
    for index, part in enumerate(stored or []):
        kind = part["type"]
        if kind == "text":
            rows.append({"type": kind, "text": part["text"]["value"], "part": index})
        else:  # image_url {url, detail} or image_file {file_id, detail}
            rows.append({"type": kind, **part[kind], "part": index})
    return rows


# Stands for a new row's number in the rows a page keeps for "Add another";
# rows.js puts the next free number in its place.
NEW_ROW_INDEX = "__index__"


class RowsWidget(forms.Widget):
    """Rows of inputs named ``<name>-<row>-<input>``; subclasses say how a row reads.

    The first input carries the widget's own id, so that the field's label points at it.
    Each ``add_buttons`` entry is a button that adds a blank row of that kind:
    ``(label, row)``.
    """

    extra_rows: list[dict[str, Any]] = []
    add_buttons: list[tuple[str, dict[str, Any]]] = []
    # Positions of the rows at fault, set by the field when it refuses them.
    error_rows: frozenset[int] = frozenset()

    class Media:
        js = ["threads_app/rows.js"]

    def format_value(self, value: Any) -> Any:
        return value  # rows, not a string

    def get_extra_rows(self) -> list[dict[str, Any]]:
        """Blank rows offered for new entries; left blank, they are ignored."""
        return [dict(row, extra=True) for row in self.extra_rows]

    def get_context(self, name: str, value: Any, attrs: dict | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        widget_id = context["widget"]["attrs"].get("id", name)
        rows = [dict(row, index=i, error=i in self.error_rows) for i, row in enumerate(value or [])]
        rows += [dict(row, index=len(rows) + i) for i, row in enumerate(self.get_extra_rows())]
        for number, row in enumerate(rows, 1):
            row["number"] = number
            row["id"] = widget_id if number == 1 else f"{widget_id}-{row['index']}"
        context["widget"]["rows"] = rows
        context["widget"]["add_buttons"] = [
            {"label": label, "kind": row.get("type", "row"),
             "row": dict(row, extra=True, index=NEW_ROW_INDEX,
                         id=f"{widget_id}-{NEW_ROW_INDEX}")}
            for label, row in self.add_buttons
        ]
        return context

    def read_row(self, data: Any, prefix: str) -> dict[str, Any] | None:
        """The row under ``prefix``, or None if it is to be left out."""
        raise NotImplementedError

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Rows:
        rows = Rows()
        for index in row_indices(data, name):
            prefix = f"{name}-{index}-"
            if data.get(prefix + "remove"):
                continue
            row = self.read_row(data, prefix)
            if row is not None:
                rows.append(row)
        return rows

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        # No rows submitted means "none", not "leave as it was".
        return False


class MetadataWidget(RowsWidget):
    template_name = "admin/threads_app/widgets/metadata.html"
    extra_rows = [{"key": "", "value": ""}]
    add_buttons = [("Add another pair", {"key": "", "value": ""})]

    def read_row(self, data: Any, prefix: str) -> dict[str, Any] | None:
        key, value = data.get(prefix + "key", ""), data.get(prefix + "value", "")
        return {"key": key, "value": value} if key or value else None


class ContentWidget(RowsWidget):
    template_name = "admin/threads_app/widgets/content.html"
    extra_rows = [
        {"type": "text", "text": ""},
        {"type": "image_url", "url": "", "detail": "auto"},
    ]
    add_buttons = [
        ("Add another text part", extra_rows[0]),
        ("Add another image by URL", extra_rows[1]),
    ]
    details = validation.IMAGE_DETAILS

    class Media:
        # The image preview's button: loads the user's address only when clicked.
        js = ["threads_app/admin.js"]

    def get_context(self, name: str, value: Any, attrs: dict | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        new_rows = [button["row"] for button in context["widget"]["add_buttons"]]
        for row in context["widget"]["rows"] + new_rows:
            # A stored detail the Threads rules do not offer ("original", written through
            # the Conversations API) stays selectable, so that an untouched part keeps it.
            detail = row.get("detail")
            known = detail is None or detail in self.details
            row["details"] = self.details if known else (detail, *self.details)
            if row.get("type") == "image_url" and row.get("url"):
                row["host"] = image_host(row["url"])
        return context

    def read_row(self, data: Any, prefix: str) -> dict[str, Any] | None:
        kind = data.get(prefix + "type", "text")
        if kind == "text":
            row = {"type": kind, "text": data.get(prefix + "text", "")}
            filled = row["text"]
        else:
            source = "url" if kind == "image_url" else "file_id"
            row = {
                "type": kind,
                source: data.get(prefix + source, "").strip(),
                "detail": data.get(prefix + "detail") or "auto",
            }
            filled = row[source]
        # A blank new row is an unused offer; a blank existing row is an emptied part.
        if data.get(prefix + "extra") and not filled:
            return None
        # Which stored part the row showed: kept across a page shown again with errors,
        # where rows are numbered afresh.
        part = data.get(prefix + "part", "")
        if part.isascii() and part.isdigit():
            row["part"] = int(part)
        return row


class AttachmentsWidget(RowsWidget):
    template_name = "admin/threads_app/widgets/attachments.html"
    extra_rows = [{"file_id": "", "tools": []}]
    add_buttons = [("Add another attachment", extra_rows[0])]
    tools = validation.ATTACHMENT_TOOLS

    def get_context(self, name: str, value: Any, attrs: dict | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["widget"]["tools"] = self.tools
        return context

    def read_row(self, data: Any, prefix: str) -> dict[str, Any] | None:
        row = {"file_id": data.get(prefix + "file_id", "").strip(),
               "tools": get_list(data, prefix + "tools")}
        return row if row["file_id"] or row["tools"] else None


class ToolResourcesWidget(forms.Widget):
    template_name = "admin/threads_app/widgets/tool_resources.html"

    def format_value(self, value: Any) -> Any:
        return value  # one row: {"code_interpreter": [...], "file_search": [...]}

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Rows:
        return Rows([{
            "code_interpreter": split_ids(data.get(f"{name}-code_interpreter", "")),
            "file_search": split_ids(data.get(f"{name}-file_search", "")),
        }])

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return False


class RowError(forms.ValidationError):
    """A rows field's error, and the position of the row that caused it (None: the whole)."""

    def __init__(self, message: str, code: str | None = None, row: int | None = None) -> None:
        super().__init__(message, code=code)
        self.row = row


class RowsField(forms.Field):
    """A JSON column edited as rows and checked by ``rule`` from the validation module."""

    rule: Callable[[Any, str], Any]
    param: str
    # The value being edited, set by the form; None when adding.
    stored: Any = None

    def __init__(self, **kwargs: Any) -> None:
        # Emptiness is the rule's business (content must not be empty; metadata may).
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_rows(self, stored: Any) -> list[dict[str, Any]]:
        """The rows that show a stored value."""
        raise NotImplementedError

    def to_request(self, rows: list[dict[str, Any]]) -> Any:
        """The API request body that rows stand for."""
        raise NotImplementedError

    def prepare_value(self, value: Any) -> Any:
        return value if isinstance(value, Rows) else self.to_rows(value)

    def clean(self, value: Any) -> Any:
        rows = self.prepare_value(value)
        self.widget.error_rows = frozenset()
        try:
            return self.check(rows)
        except forms.ValidationError as error:
            # The page shows the message above the rows, and marks the rows it is about.
            self.widget.error_rows = frozenset(self.rows_at_fault(rows, error))
            raise

    def check(self, rows: list[dict[str, Any]]) -> Any:
        """The stored value that ``rows`` stand for, by the rule; or a ValidationError."""
        try:
            return type(self).rule(self.to_request(rows), self.param)
        except validation.ValidationError as error:
            raise self.form_error(error) from None

    def form_error(self, error: validation.ValidationError) -> forms.ValidationError:
        """``error`` as the form shows it, knowing its row when its path names one."""
        match = re.match(rf"{re.escape(self.param)}\[(\d+)\]", error.param or "")
        row = int(match.group(1)) if match else None
        return RowError(error.message, code=error.code, row=row)

    def rows_at_fault(self, rows: list[dict[str, Any]], error: forms.ValidationError) -> set[int]:
        """The positions of the rows that ``error`` is about; none if it is about the whole.

        An error that does not name its row (a metadata key too long, an empty text)
        is put on each row that the rule refuses on its own.
        """
        row = getattr(error, "row", None)
        if row is not None:
            return {row}
        faulty = set()
        for index, alone in enumerate(rows):
            try:
                type(self).rule(self.to_request([alone]), self.param)
            except (validation.ValidationError, forms.ValidationError):
                faulty.add(index)
        return faulty

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return self.to_request(self.prepare_value(initial)) != self.to_request(
                self.prepare_value(data)
            )
        except forms.ValidationError:
            return True


class MetadataField(RowsField):
    widget = MetadataWidget
    rule = staticmethod(validation.clean_metadata)
    param = "metadata"

    def to_rows(self, stored: Any) -> list[dict[str, Any]]:
        return [{"key": k, "value": v} for k, v in (stored or {}).items()]

    def prepare_value(self, value: Any) -> Any:
        rows = super().prepare_value(value)
        if not isinstance(value, Rows) or not self.stored:
            return rows
        # A pair whose key or value holds a line break comes back without it: a row
        # that reads as a stored pair as its input sent it back is that pair.
        sent = {
            (as_input_sends(key), as_input_sends(item)): {"key": key, "value": item}
            for key, item in self.stored.items()
        }
        return Rows(sent.get((row["key"], row["value"]), row) for row in rows)

    def to_request(self, rows: list[dict[str, Any]]) -> dict[str, str]:
        pairs: dict[str, str] = {}
        for index, row in enumerate(rows):
            if not row["key"]:
                raise RowError("Each value needs a key.", code="missing_key", row=index)
            if row["key"] in pairs:
                raise RowError(
                    f"The key '{row['key']}' appears more than once.", code="duplicate_key",
                    row=index,
                )
            pairs[row["key"]] = row["value"]
        return pairs


class ContentField(RowsField):
    """Content parts; a row left as it was keeps its stored part, unchecked and unchanged.

    The API's rules apply to the parts that were edited or added, and to the whole
    (not empty, within the text limit). An untouched part was accepted when it was
    written, perhaps with fields the editor does not show; it is not judged again.
    """

    widget = ContentWidget
    rule = staticmethod(validation.clean_content)
    param = "content"

    def to_rows(self, stored: Any) -> list[dict[str, Any]]:
        return content_rows(stored)

    def sent(self, row: dict[str, Any]) -> tuple:
        """What the browser sends for ``row``, for telling whether it was edited."""
        if row["type"] == "text":
            return (row["type"], typed_text(row["text"]))
        source = "url" if row["type"] == "image_url" else "file_id"
        return (row["type"], as_input_sends(row[source]).strip(), row.get("detail"))

    def origins(self, rows: list[dict[str, Any]], stored: Any) -> list[int | None]:
        """For each row, the index of the part of ``stored`` it leaves as it was, or None."""
        stored_rows = content_rows(stored)
        origins: list[int | None] = []
        for row in rows:
            part = row.get("part")
            kept = (
                part is not None
                and part < len(stored_rows)
                and part not in origins
                and self.sent(stored_rows[part]) == self.sent(row)
            )
            origins.append(part if kept else None)
        return origins

    def check(self, rows: list[dict[str, Any]]) -> Any:
        if self.stored is None:
            return super().check(rows)
        origins = self.origins(rows, self.stored)
        if origins == list(range(len(self.stored))):
            return self.stored  # as it was, even if empty, as an import may leave it
        parts = []
        for index, (part, origin) in enumerate(zip(self.to_request(rows), origins, strict=True)):
            if origin is not None:
                parts.append(self.stored[origin])
                continue
            try:
                parts.append(validation.clean_content_part(
                    part, validation.path(self.param, index), self.param
                ))
            except validation.ValidationError as error:
                # An empty text names the whole content, yet this row is the one at fault.
                raise RowError(error.message, code=error.code, row=index) from None
        try:
            if not parts:
                raise validation.empty_content(self.param)
            return validation.check_text_length(parts, self.param)
        except validation.ValidationError as error:
            raise self.form_error(error) from None

    def rows_at_fault(self, rows: list[dict[str, Any]], error: forms.ValidationError) -> set[int]:
        if getattr(error, "row", None) is None and self.stored is not None:
            # Rows left as they were are not judged again, so they are never at fault.
            origins = self.origins(rows, self.stored)
            edited = [index for index, origin in enumerate(origins) if origin is None]
            faulty = super().rows_at_fault([rows[index] for index in edited], error)
            return {edited[position] for position in faulty}
        return super().rows_at_fault(rows, error)

    def has_changed(self, initial: Any, data: Any) -> bool:
        if not isinstance(data, Rows):
            return super().has_changed(initial, data)
        return self.origins(data, initial) != list(range(len(initial or [])))

    def to_request(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        for row in rows:
            kind = row["type"]
            if kind == "text":
                # Browsers send a textarea's line breaks as CRLF; what was typed is LF.
                parts.append({"type": kind, "text": typed_text(row["text"])})
            elif kind == "image_url":
                parts.append({"type": kind, kind: {"url": row["url"], "detail": row["detail"]}})
            else:
                parts.append(
                    {"type": kind, kind: {"file_id": row["file_id"], "detail": row["detail"]}}
                )
        return parts


class AttachmentsField(RowsField):
    widget = AttachmentsWidget
    rule = staticmethod(validation.clean_attachments)
    param = "attachments"

    def to_rows(self, stored: Any) -> list[dict[str, Any]]:
        return [
            {"file_id": item["file_id"], "tools": [tool["type"] for tool in item["tools"]]}
            for item in stored or []
        ]

    def to_request(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {"file_id": row["file_id"], "tools": [{"type": tool} for tool in row["tools"]]}
            for row in rows
        ]


class ToolResourcesField(RowsField):
    widget = ToolResourcesWidget
    rule = staticmethod(validation.clean_tool_resources)
    param = "tool_resources"

    def to_rows(self, stored: Any) -> list[dict[str, Any]]:
        stored = stored or {}
        return [{
            "code_interpreter": (stored.get("code_interpreter") or {}).get("file_ids") or [],
            "file_search": (stored.get("file_search") or {}).get("vector_store_ids") or [],
        }]

    def to_request(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        ids = rows[0] if rows else {"code_interpreter": [], "file_search": []}
        request: dict[str, Any] = {}
        if ids["code_interpreter"]:
            request["code_interpreter"] = {"file_ids": ids["code_interpreter"]}
        if ids["file_search"]:
            request["file_search"] = {"vector_store_ids": ids["file_search"]}
        return request


class RowsModelForm(forms.ModelForm):
    """A field left as it was keeps its stored value exactly.

    Rows cannot tell an empty ``{"file_ids": []}`` from no entry, nor carry a text
    part's annotations, so an unchanged field is not rebuilt from its rows.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            for name, field in self.fields.items():
                if isinstance(field, RowsField):
                    field.stored = getattr(self.instance, name)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.instance.pk is not None:
            for name, field in self.fields.items():
                if isinstance(field, RowsField) and name in cleaned:
                    if name not in self.changed_data:
                        cleaned[name] = getattr(self.instance, name)
        return cleaned


# The limits of metadata, as the API's rules hold them.
METADATA_HELP = (
    f"Up to {validation.METADATA_MAX_PAIRS} pairs; keys of at most "
    f"{validation.METADATA_MAX_KEY_LENGTH} characters, values of at most "
    f"{validation.METADATA_MAX_VALUE_LENGTH}."
)


class ThreadForm(RowsModelForm):
    metadata = MetadataField(help_text=METADATA_HELP)
    tool_resources = ToolResourcesField(
        label="Tool resources", help_text="IDs separated by spaces or commas."
    )

    class Meta:
        model = Thread
        fields = ["owner", "metadata", "tool_resources"]


class MessageForm(RowsModelForm):
    """A message's content, attachments and metadata; its thread and role when added."""

    thread = forms.ModelChoiceField(
        queryset=Thread.objects.all(),
        to_field_name="public_id",
        widget=forms.TextInput(attrs={"size": 40}),
        help_text=f"The thread's ID, such as {id_start(THREAD_PREFIX)}abc123…",
    )
    # Added messages are Threads messages; system and developer messages come
    # through the Conversations API.
    role = forms.ChoiceField(choices=[(role, role) for role in THREADS_ROLES])
    content = ContentField(
        help_text="Each part in its own row; tick Remove to drop one. Must not be empty."
    )
    attachments = AttachmentsField(help_text="A file ID and the tools it is meant for.")
    metadata = MetadataField(help_text=METADATA_HELP)

    class Meta:
        model = Message
        fields = ["thread", "role", "content", "attachments", "metadata"]

    def save(self, commit: bool = True) -> Message:
        self.instance.item = self.conversation_item()
        return super().save(commit)

    def conversation_item(self) -> dict[str, Any] | None:
        """The message's Conversations form (``item``) after the edit.

        ``item`` keeps a message written through the Conversations API as it was
        written, with what its Threads parts cannot hold (an ``output_text``'s
        annotations such as ``url_citation``, its logprobs), and that view answers
        with it. So it changes only where the content did: a part left as it was
        keeps its item part; an edited or added part is derived from its Threads
        form, as for a message written through the Threads API (its annotations
        would no longer fit the edited text anyway); a removed part goes.
        """
        item = self.instance.item
        if item is None or "content" not in self.changed_data:
            return item
        field = self.fields["content"]
        item_parts = item.get("content") or []
        # The editor is offered only where each item part has one Threads part, in order;
        # should the two ever disagree, the item is derived from the edited content whole.
        if len(item_parts) != len(field.stored or []):
            return None
        origins = field.origins(field.prepare_value(self["content"].data), field.stored)
        role = self.instance.role
        content = [
            item_parts[origin] if origin is not None else conversation_part(part, role)
            for origin, part in zip(origins, self.cleaned_data["content"], strict=True)
        ]
        return {**item, "content": content}


class APIKeyForm(forms.ModelForm):
    """Naming a key and its user; the secret itself is generated on save."""

    class Meta:
        model = APIKey
        fields = ["user", "name"]

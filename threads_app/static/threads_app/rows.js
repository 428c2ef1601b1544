/* "Add another" for the admin's rows widgets (content parts, attachments, metadata).

   Each button clones the blank row kept in its widget's <template>, numbered after
   the highest row on the page (the form reads any row numbers, gaps included), and
   moves the focus into it. Without JavaScript the buttons stay hidden and the page
   offers one blank row of each kind. A file, not an inline script, so that a
   Content-Security-Policy without 'unsafe-inline' holds. */
"use strict";
{
    const NEW_ROW_INDEX = "__index__";

    function addRow(button) {
        const widget = button.closest(".threads-rows-widget");
        const template = widget.querySelector(
            `template[data-row-kind="${button.dataset.threadsAddRow}"]`);
        const indices = Array.from(
            widget.querySelectorAll("[data-threads-rows] [data-row-index]"),
            (row) => Number(row.dataset.rowIndex));
        const index = String(Math.max(-1, ...indices) + 1);
        const fragment = template.content.cloneNode(true);
        for (const element of fragment.querySelectorAll("*")) {
            for (const attribute of element.attributes) {
                if (attribute.value.includes(NEW_ROW_INDEX)) {
                    attribute.value = attribute.value.replaceAll(NEW_ROW_INDEX, index);
                }
            }
        }
        const row = fragment.firstElementChild;
        widget.querySelector("[data-threads-rows]").appendChild(fragment);
        const first = row.querySelector("textarea, select, input:not([type=hidden])");
        if (first) {
            first.focus();
        }
    }

    document.addEventListener("click", (event) => {
        const button = event.target.closest("button[data-threads-add-row]");
        if (button) {
            event.preventDefault();
            addRow(button);
        }
    });

    function reveal() {
        for (const button of document.querySelectorAll("button[data-threads-add-row]")) {
            button.hidden = false;
        }
    }

    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", reveal);
    } else {
        reveal();
    }
}

/* The Copy button beside a secret shown once: copies the field's text and says so.

   Where the Clipboard API is refused (a page not served over HTTPS or from
   localhost), the text is selected for the user to copy by hand. A file, not an
   inline script, so that a Content-Security-Policy without 'unsafe-inline' holds. */
"use strict";
{
    async function copy(button) {
        const field = document.getElementById(button.dataset.threadsCopy);
        const status = document.getElementById(button.getAttribute("aria-describedby"));
        try {
            await navigator.clipboard.writeText(field.value);
            status.textContent = "Copied.";
        } catch (error) {
            field.focus();
            field.select();
            status.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
        }
    }

    document.addEventListener("click", (event) => {
        const button = event.target.closest("button[data-threads-copy]");
        if (button) {
            copy(button);
        }
    });

    function reveal() {
        for (const button of document.querySelectorAll("button[data-threads-copy]")) {
            button.hidden = false;
        }
    }

    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", reveal);
    } else {
        reveal();
    }
}

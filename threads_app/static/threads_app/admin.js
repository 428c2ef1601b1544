/* The threads admin: the owner filter's suggestions, and images shown only when asked.
   No library: the admin's own pages load this file as it is. */
"use strict";
{
    // Suggestions of owners as a name is typed; each is a link to the list filtered by them.
    function ownerSearch(box) {
        const input = box.querySelector("input");
        const list = box.querySelector("ul");
        let timer = null;
        let asked = 0;

        function item(content) {
            const li = document.createElement("li");
            li.append(content);
            list.append(li);
        }

        async function suggest() {
            const term = input.value.trim();
            const ask = ++asked;
            if (!term) {
                list.replaceChildren();
                return;
            }
            const url = new URL(box.dataset.url, window.location.href);
            url.searchParams.set("term", term);
            const response = await fetch(url, {headers: {Accept: "application/json"}});
            if (ask !== asked) {
                return;  // a later keystroke asked again
            }
            list.replaceChildren();
            if (!response.ok) {
                item("The owners could not be listed.");
                return;
            }
            const found = await response.json();
            for (const user of found.results) {
                const params = new URLSearchParams(window.location.search);
                params.set(box.dataset.parameter, user.id);
                params.delete("p");  // the page of another list
                params.delete("e");
                const link = document.createElement("a");
                link.href = "?" + params.toString();
                link.textContent = user.text;
                item(link);
            }
            if (!found.results.length) {
                item("No owner of a thread matches.");
            } else if (found.more) {
                item("More match: type more of the name.");
            }
        }

        input.addEventListener("input", () => {
            window.clearTimeout(timer);
            timer = window.setTimeout(suggest, 200);
        });
    }

    // An image part's address is a user's: loading it tells that address who reads
    // the thread, or makes this browser request an internal one. Loaded on a click only.
    function showImage(button) {
        let url;
        try {
            url = new URL(button.dataset.src);
        } catch {
            return;
        }
        if (!["http:", "https:", "data:"].includes(url.protocol)) {
            return;
        }
        const image = document.createElement("img");
        image.referrerPolicy = "no-referrer";
        image.alt = url.protocol === "data:" ? "Image given inline" : "Image from " + url.host;
        image.src = url.href;
        button.replaceWith(image);
    }

    document.addEventListener("click", (event) => {
        const button = event.target.closest(".threads-show-image");
        if (button) {
            showImage(button);
        }
    });
    document.addEventListener("DOMContentLoaded", () => {
        document.querySelectorAll(".threads-owner-search").forEach(ownerSearch);
    });
}

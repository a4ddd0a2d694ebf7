// Interaction for the flame graph SVG written by flamegraph_svg.cpp; embedded into the binary.
//
// Every frame is a <g class="frame"> carrying its label and position in samples as data-*
// attributes (data-name, data-samples, data-offset, data-depth). Names only ever reach the page
// through those attributes and textContent, never through markup, so a hostile symbol name stays
// text. Positions are kept in samples, which are exact integers, so finding a frame's subtree or
// ancestors needs no floating-point tolerance.
"use strict";

(function () {
    const framesGroup = document.getElementById("frames");
    const details = document.getElementById("details");
    const matched = document.getElementById("matched");
    const unzoomControl = document.getElementById("unzoom");
    const searchControl = document.getElementById("search");
    const resetSearchControl = document.getElementById("reset-search");
    if (!framesGroup) {
        return;
    }

    const numberAttribute = (element, name) => Number(element.getAttribute(name));

    const layout = {
        left: numberAttribute(framesGroup, "data-left"),
        width: numberAttribute(framesGroup, "data-graph-width"),
        charWidth: numberAttribute(framesGroup, "data-char-width"),
        textPadding: numberAttribute(framesGroup, "data-text-padding"),
    };

    const frames = Array.from(framesGroup.querySelectorAll("g.frame"), (element) => ({
        element: element,
        rect: element.querySelector("rect"),
        label: element.querySelector("text"),
        tooltip: element.querySelector("title"),
        name: element.getAttribute("data-name"),
        samples: numberAttribute(element, "data-samples"),
        offset: numberAttribute(element, "data-offset"),
        depth: numberAttribute(element, "data-depth"),
    }));
    const frameByElement = new Map(frames.map((frame) => [frame.element, frame]));
    const root = frames.find((frame) => frame.depth === 0);
    const totalSamples = root ? root.samples : 0;

    function frameOf(target) {
        const element = target && target.closest ? target.closest("g.frame") : null;
        return element ? frameByElement.get(element) : undefined;
    }

    function percentOf(samples) {
        return totalSamples === 0 ? "0.00" : ((100 * samples) / totalSamples).toFixed(2);
    }

    // Same rule as fit_label in flamegraph_svg.cpp, counted in code points so that a cut never
    // splits a character.
    function fitLabel(name, boxWidth) {
        const maxChars = Math.max(0, Math.floor((boxWidth - 2 * layout.textPadding) / layout.charWidth));
        const chars = Array.from(name);
        if (chars.length <= maxChars) {
            return name;
        }
        if (maxChars < 3) {
            return "";
        }
        return chars.slice(0, maxChars - 2).join("") + "..";
    }

    function place(frame, x, width) {
        frame.rect.setAttribute("x", x.toFixed(2));
        frame.rect.setAttribute("width", width.toFixed(2));
        frame.label.setAttribute("x", (x + layout.textPadding).toFixed(2));
        frame.label.textContent = fitLabel(frame.name, width);
    }

    const endOf = (frame) => frame.offset + frame.samples;

    function isInSubtree(frame, top) {
        return frame.depth >= top.depth && frame.offset >= top.offset && endOf(frame) <= endOf(top);
    }

    function isAncestor(frame, top) {
        return frame.depth < top.depth && frame.offset <= top.offset && endOf(frame) >= endOf(top);
    }

    // Stretches `top` to the full width and its subtree with it; ancestors stay, faded and full
    // width, for context; everything else is hidden.
    function zoom(top) {
        const pixelsPerSample = top.samples > 0 ? layout.width / top.samples : 0;
        for (const frame of frames) {
            const inSubtree = isInSubtree(frame, top);
            const ancestor = !inSubtree && isAncestor(frame, top);
            frame.element.classList.toggle("hide", !inSubtree && !ancestor);
            frame.element.classList.toggle("parent", ancestor);
            if (ancestor || frame === top) {
                place(frame, layout.left, layout.width);
            } else if (inSubtree) {
                place(frame, layout.left + (frame.offset - top.offset) * pixelsPerSample,
                      frame.samples * pixelsPerSample);
            }
        }
        unzoomControl.classList.toggle("hide", top === root);
    }

    // Matches nested in another match are already inside its samples. Frames of a tree either
    // nest or are disjoint, so after sorting by start (outermost first) a frame is nested exactly
    // when it starts before the end of the last counted one.
    function samplesCovered(matches) {
        const ordered = matches.slice().sort((a, b) => a.offset - b.offset || a.depth - b.depth);
        let covered = 0;
        let coveredUntil = -Infinity;
        for (const frame of ordered) {
            if (frame.offset >= coveredUntil) {
                covered += frame.samples;
                coveredUntil = endOf(frame);
            }
        }
        return covered;
    }

    function search(pattern) {
        let regex;
        try {
            regex = new RegExp(pattern);
        } catch (error) {
            details.textContent = "Invalid regular expression: " + error.message;
            return;
        }
        const matches = frames.filter((frame) => regex.test(frame.name));
        const matching = new Set(matches);
        for (const frame of frames) {
            frame.element.classList.toggle("match", matching.has(frame));
        }
        matched.textContent = "Matched: " + percentOf(samplesCovered(matches)) + "%";
        matched.classList.remove("hide");
        resetSearchControl.classList.remove("hide");
    }

    function resetSearch() {
        for (const frame of frames) {
            frame.element.classList.remove("match");
        }
        matched.classList.add("hide");
        resetSearchControl.classList.add("hide");
    }

    let lastPattern = "";
    function promptSearch() {
        const pattern = window.prompt("Highlight frames matching (regular expression):", lastPattern);
        if (pattern === null || pattern === "") {
            return;
        }
        lastPattern = pattern;
        search(pattern);
    }

    framesGroup.addEventListener("mouseover", (event) => {
        const frame = frameOf(event.target);
        if (frame) {
            details.textContent = frame.tooltip ? frame.tooltip.textContent : frame.name;
        }
    });
    framesGroup.addEventListener("mouseout", () => {
        details.textContent = " ";
    });
    framesGroup.addEventListener("click", (event) => {
        const frame = frameOf(event.target);
        if (frame) {
            zoom(frame);
        }
    });
    unzoomControl.addEventListener("click", () => {
        if (root) {
            zoom(root);
        }
    });
    searchControl.addEventListener("click", promptSearch);
    resetSearchControl.addEventListener("click", resetSearch);
    document.addEventListener("keydown", (event) => {
        const wantsFind = (event.ctrlKey || event.metaKey) && (event.key === "f" || event.key === "F");
        if (wantsFind) {
            // Instead of the browser's find, which cannot see labels cut short to fit their box.
            event.preventDefault();
            promptSearch();
        } else if (event.key === "Escape") {
            resetSearch();
        }
    });
})();

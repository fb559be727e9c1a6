// Dinsos Tangsel staff dashboard: the maps. Every map works without this file (areas are links, the
// kelurahan list beside the picker is a normal form field); it shows an area's counts on hover or tap,
// and lets a click on the picker choose a kelurahan in the segment form.
(function () {
  "use strict";

  // The summary map: hovering or focusing an area shows its counts; on a touch screen the first tap
  // shows them and a second tap on the same area opens its queue.
  function summary(svg) {
    var info = document.getElementById("map-info");
    var active = null;
    function show(area) {
      if (active) active.classList.remove("active");
      active = area;
      area.classList.add("active");
      if (!info) return;
      info.textContent = area.getAttribute("data-info") + " ";
      var link = document.createElement("a");
      link.setAttribute("href", area.getAttribute("href"));
      link.textContent = info.getAttribute("data-open");
      info.appendChild(link);
    }
    svg.querySelectorAll("a.area").forEach(function (area) {
      var firstTap = false;
      area.addEventListener("pointerdown", function (event) {
        firstTap = event.pointerType === "touch" && active !== area;
      });
      area.addEventListener("mouseenter", function () { show(area); });
      area.addEventListener("focus", function () { show(area); });
      area.addEventListener("click", function (event) {
        if (firstTap) {
          event.preventDefault();
          firstTap = false;
          show(area);
        }
      });
    });
  }

  // The picker: a click (or Enter / Space) on an area chooses or drops that kelurahan in the form's
  // list, and the list's change event lets the recipient count follow.
  function picker(svg) {
    var form = svg.closest("form");
    var select = form && form.querySelector("select[name='" + svg.getAttribute("data-select") + "']");
    if (!select) return;
    function option(code) {
      for (var i = 0; i < select.options.length; i++) {
        if (select.options[i].value === code) return select.options[i];
      }
      return null;
    }
    function sync() {
      svg.querySelectorAll("path.pick").forEach(function (path) {
        var chosen = !!(option(path.getAttribute("data-code")) || {}).selected;
        path.classList.toggle("chosen", chosen);
        path.setAttribute("aria-checked", chosen ? "true" : "false");
      });
    }
    function toggle(path) {
      var found = option(path.getAttribute("data-code"));
      if (!found) return;
      found.selected = !found.selected;
      sync();
      select.dispatchEvent(new Event("change", { bubbles: true }));
    }
    svg.querySelectorAll("path.pick").forEach(function (path) {
      path.addEventListener("click", function () { toggle(path); });
      path.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          toggle(path);
        }
      });
    });
    select.addEventListener("change", sync);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("svg[data-map='summary']").forEach(summary);
    document.querySelectorAll("svg[data-map='picker']").forEach(picker);
  });
})();

// ucdbench publish: what a reader's browser does with the site's tables, offline from file://.
//
// Every table gets: headers that are buttons (Tab, then Enter or Space) sorting its rows, with
// aria-sort on the sorted header; a toolbar with a search box, a select per facet its rows carry
// (data-facets: hardware, preset, method family, task settings) that has more than one value, and
// a list of columns to show or hide; and permalinks (¶) to the table and to each row. A table's
// filters, hidden columns and sort are kept in the URL fragment, #TABLE?q=...&family=...&hide=...
// &sort=COLUMN.desc, so a filtered table can be shared; #ROW scrolls to a row and highlights it.
(function () {
  "use strict";

  var tables = [];  // {id, table, headers, rows, facets, state, controls}

  function slug(text) {
    return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
  }

  function cellText(cell) {
    var copy = cell.cloneNode(true);
    copy.querySelectorAll(".permalink").forEach(function (link) { link.remove(); });
    return copy.textContent.trim();
  }

  function element(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function permalink(id, what) {
    return element("a", {"class": "permalink", href: "#" + id, title: "permalink to this " + what,
                         "aria-label": "permalink to this " + what}, ["¶"]);
  }

  // ------------------------------------------------------------------------------------ sorting

  function sortKey(row, column) {
    var cell = row.cells[column];
    if (!cell) return {number: null, text: ""};
    var value = cell.dataset.sort;
    return {number: value === undefined || value === "" ? null : parseFloat(value), text: cellText(cell)};
  }

  // Best first where the column has a direction (↑ highest first, ↓ lowest first), ascending
  // otherwise; `descending` undefined: the first click does that, the next reverses. Rows without
  // a number go last either way; ties keep the page's order.
  function sortBy(entry, column, descending) {
    var th = entry.headers[column];
    if (descending === undefined) {
      var state = th.getAttribute("aria-sort");
      descending = state ? state === "ascending" : th.dataset.better === "higher";
    }
    entry.headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var numeric = entry.rows.some(function (row) { return sortKey(row, column).number !== null; });
    // entry.rows is in the page's order and Array.sort is stable: ties keep the page's order, both ways
    var keyed = entry.rows.map(function (row) { return {row: row, key: sortKey(row, column)}; });
    keyed.sort(function (a, b) {
      var order;
      if (numeric) {
        var x = a.key.number, y = b.key.number;
        if (x === null || y === null) order = (x === null) - (y === null);
        else order = descending ? y - x : x - y;
      } else {
        order = a.key.text.localeCompare(b.key.text, undefined, {numeric: true});
        if (descending) order = -order;
      }
      return order;
    });
    var body = entry.table.tBodies[0];
    keyed.forEach(function (item) { body.appendChild(item.row); });
    entry.state.sort = slug(cellText(th)) + (descending ? ".desc" : ".asc");
  }

  // ---------------------------------------------------------------------------------- filtering

  function rowFacets(row) {
    try { return row.dataset.facets ? JSON.parse(row.dataset.facets) : {}; } catch (e) { return {}; }
  }

  function facetsOf(rows) {
    var values = {};
    rows.forEach(function (row) {
      var facets = rowFacets(row);
      Object.keys(facets).forEach(function (name) {
        (values[name] = values[name] || {})[facets[name]] = true;
      });
    });
    var order = ["hardware", "preset", "family"];
    return Object.keys(values).filter(function (name) { return Object.keys(values[name]).length > 1; })
      .sort(function (a, b) {
        var i = order.indexOf(a), j = order.indexOf(b);
        return (i < 0 ? order.length : i) - (j < 0 ? order.length : j) || a.localeCompare(b);
      })
      .map(function (name) { return {name: name, values: Object.keys(values[name]).sort()}; });
  }

  function applyFilters(entry) {
    var words = entry.state.q.toLowerCase().split(/\s+/).filter(Boolean), shown = 0;
    entry.rows.forEach(function (row) {
      var facets = rowFacets(row), text = row.textContent.toLowerCase();
      var visible = words.every(function (word) { return text.indexOf(word) >= 0; }) &&
        Object.keys(entry.state.facets).every(function (name) { return facets[name] === entry.state.facets[name]; });
      row.hidden = !visible;
      shown += visible;
    });
    entry.controls.count.textContent = shown + " of " + entry.rows.length + " rows";
  }

  function applyColumns(entry) {
    entry.columns.forEach(function (column, i) {
      var hidden = entry.state.hidden.indexOf(column) >= 0;
      entry.table.querySelectorAll("tr").forEach(function (row) { if (row.cells[i]) row.cells[i].hidden = hidden; });
      entry.controls.columns[i].checked = !hidden;
    });
  }

  // ------------------------------------------------------------------------------ the fragment

  function writeFragment(entry) {
    var params = new URLSearchParams(), state = entry.state;
    if (state.q) params.set("q", state.q);
    Object.keys(state.facets).forEach(function (name) { params.set(name, state.facets[name]); });
    if (state.hidden.length) params.set("hide", state.hidden.join(","));
    if (state.sort) params.set("sort", state.sort);
    var query = params.toString();
    try {
      history.replaceState(null, "", "#" + entry.id + (query ? "?" + query : ""));
    } catch (e) { /* a browser that refuses to change a file:// URL: the filters still work */ }
  }

  function readFragment(entry, query) {
    var params = new URLSearchParams(query), state = entry.state;
    state.q = params.get("q") || "";
    state.facets = {};
    entry.facets.forEach(function (facet) {
      var value = params.get(facet.name);
      if (value !== null && facet.values.indexOf(value) >= 0) state.facets[facet.name] = value;
    });
    state.hidden = (params.get("hide") || "").split(",").filter(function (c) { return entry.columns.indexOf(c) >= 0; });
    entry.controls.search.value = state.q;
    Object.keys(entry.controls.selects).forEach(function (name) {
      entry.controls.selects[name].value = state.facets[name] || "";
    });
    var sort = (params.get("sort") || "").match(/^(.*)\.(asc|desc)$/), column = sort ? entry.columns.indexOf(sort[1]) : -1;
    if (column >= 0) sortBy(entry, column, sort[2] === "desc");
    applyFilters(entry);
    applyColumns(entry);
  }

  function followFragment() {
    var hash = decodeURIComponent(location.hash.slice(1)), at = hash.indexOf("?");
    var id = at >= 0 ? hash.slice(0, at) : hash, target = id && document.getElementById(id);
    if (!target) return;
    var entry = tables.find(function (e) { return e.id === id; });
    if (entry && at >= 0) readFragment(entry, hash.slice(at + 1));
    document.querySelectorAll(".highlight").forEach(function (node) { node.classList.remove("highlight"); });
    if (target.tagName === "TR") target.classList.add("highlight");
    target.scrollIntoView({block: target.tagName === "TR" ? "center" : "start"});
  }

  // ------------------------------------------------------------------------------ the controls

  function toolbar(entry) {
    var controls = entry.controls = {selects: {}, columns: []};
    controls.search = element("input", {type: "search", placeholder: "search rows",
                                        "aria-label": "search the rows of this table"});
    controls.search.addEventListener("input", function () {
      entry.state.q = controls.search.value;
      applyFilters(entry);
      writeFragment(entry);
    });
    var bar = element("div", {"class": "toolbar"}, [permalink(entry.id, "table"), controls.search]);
    entry.facets.forEach(function (facet) {
      var select = element("select", {"data-facet": facet.name}, [element("option", {value: ""}, ["all"])]);
      facet.values.forEach(function (value) { select.appendChild(element("option", {value: value}, [value])); });
      select.addEventListener("change", function () {
        if (select.value) entry.state.facets[facet.name] = select.value; else delete entry.state.facets[facet.name];
        applyFilters(entry);
        writeFragment(entry);
      });
      controls.selects[facet.name] = select;
      bar.appendChild(element("label", {}, [facet.name.replace(/^task\./, "task: ") + " ", select]));
    });
    var list = element("div", {"class": "columns"});
    entry.headers.forEach(function (th, i) {
      var box = element("input", {type: "checkbox", "data-column": entry.columns[i]});
      box.checked = true;
      box.addEventListener("change", function () {
        entry.state.hidden = entry.columns.filter(function (column, j) { return !controls.columns[j].checked; });
        applyColumns(entry);
        writeFragment(entry);
      });
      controls.columns.push(box);
      list.appendChild(element("label", {}, [box, " " + cellText(th)]));
    });
    bar.appendChild(element("details", {"class": "columns"}, [element("summary", {}, ["columns"]), list]));
    controls.count = element("span", {"class": "count", "aria-live": "polite"});
    bar.appendChild(controls.count);
    return bar;
  }

  // A table's permalink is the id of the block the page wraps it in with its downloads
  // (div.table-block), else its own id (one is made up for a table without).
  function setUp(table, number) {
    var block = table.closest(".table-block");
    if (!block && !table.id) table.id = "table-" + number;
    var id = block ? block.id : table.id;
    var box = table.parentElement;
    if (!box.classList.contains("scroll")) {  // a wide table scrolls in its box, never the page
      box = element("div", {"class": "scroll"});
      table.parentNode.insertBefore(box, table);
      box.appendChild(table);
    }
    var heads = table.tHead.rows[table.tHead.rows.length - 1].cells;
    var entry = {id: id, table: table, headers: Array.prototype.slice.call(heads), rows: [],
                 state: {q: "", facets: {}, hidden: [], sort: ""}};
    entry.columns = entry.headers.map(function (th, i) { return slug(cellText(th)) || "column-" + (i + 1); })
      .map(function (name, i, names) {  // two headers of one name: the second is NAME-2
        var before = names.slice(0, i).filter(function (other) { return other === name; }).length;
        return before ? name + "-" + (before + 1) : name;
      });
    Array.prototype.forEach.call(table.tBodies, function (body) {
      Array.prototype.forEach.call(body.rows, function (row) {
        row.dataset.order = entry.rows.length;
        if (!row.id && row.dataset.anchor) row.id = id + "--" + row.dataset.anchor;
        if (row.id && row.cells[0]) row.cells[0].appendChild(permalink(row.id, "row"));
        entry.rows.push(row);
      });
    });
    entry.headers.forEach(function (th, column) {
      var button = element("button", {type: "button", "class": "sort", title: "sort by this column"});
      while (th.firstChild) button.appendChild(th.firstChild);
      th.appendChild(button);
      button.addEventListener("click", function () { sortBy(entry, column); writeFragment(entry); });
    });
    entry.facets = facetsOf(entry.rows);
    box.parentNode.insertBefore(toolbar(entry), box);
    applyFilters(entry);
    tables.push(entry);
  }

  document.querySelectorAll("table").forEach(function (table, i) {
    if (table.tHead && table.tBodies.length) setUp(table, i + 1);
  });
  followFragment();
  window.addEventListener("hashchange", followFragment);
})();

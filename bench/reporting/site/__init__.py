"""``ucdbench publish``: the results as a static HTML site, for people who read results in a browser.

The site is files only — no server, no network, no JavaScript framework — so it opens from
``file://`` as well as from GitHub Pages::

    index.html              tasks, methods, claims of experiment files, the history's entries
    <task>.html             per section: charts, sortable tables (mean ± CI, the paper's figure
                            beside ours, hardware and code version of every row, each run's page a
                            click away, each table's downloads), comparisons with the references,
                            attached images, the history of the section's rows; failed runs
    runs/<key>.html         a page per run: configuration, environment, commit and code, curves,
                            figures, attachments, artifact and how to rebuild it (:mod:`.runs`)
    methods/<name>.html     a page per method: paper, code, family, reported figures, tasks (:mod:`.methods`)
    compare.html            a ``ucdbench compare --json`` report as tables, when given (:mod:`.comparison`)
    downloads/<page>/       each table as CSV and JSON, the page's records as JSON Lines (:mod:`.downloads`)
    records/<key>.json      every run's record, as the results folder has it
    plots/<task>/*.png      the charts (the markdown leaderboards'), and ``history/`` per row graphs
    plots/runs/*.png        each run's training curves
    images/<task>/*         images evaluations attached to runs (the lowest seed of each row)
    attachments/<key>/*     every run's attachments, for its page

The tables, charts and statistics are the markdown leaderboards' own
(:func:`ucdbench.reporting.leaderboard.task_boards`); this package only lays them out.
The history (:mod:`.history`) is a JSON Lines file, one entry per published results folder.
"""

from ucdbench.reporting.site.build import MARKER, build_site
from ucdbench.reporting.site.comparison import read_compare_report
from ucdbench.reporting.site.history import append_history, history_entry, read_history

__all__ = ["MARKER", "append_history", "build_site", "history_entry", "read_compare_report", "read_history"]

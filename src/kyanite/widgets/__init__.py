"""Notebook widgets, as in the SDK v1: ``RunDetails(run).show()``.

The widget is the studio's live run page in an IFrame, so it works wherever a notebook
front end renders HTML output (the classic notebook, the lab interface, notebooks inside
an editor) without a front-end extension. The page is opened with an embed ticket that
the workspace server signs for this run (read-only, valid for a day; it reads the runs
below it too, so a sweep's widget is the sweep view with its children; see
:mod:`kyanite.studio.auth`): notebook front ends are other sites to the browser, where the
studio's sign-in cookie is not sent. The workspace token itself never reaches the
notebook's output (the ticket does, in the IFrame's address: it reads this run only).
"""

import html

__all__ = ["RunDetails"]


class RunDetails(object):
    """The live page of ``run_instance`` (a Run, or a sweep run) in a notebook cell.

    ``show()`` displays it; a ``RunDetails`` as the last expression of a cell shows it too.
    ``get_widget_data()`` returns the run's details and metrics as plain data."""

    def __init__(self, run_instance, height=720):
        self.run_instance = run_instance
        self.height = int(height)
        self._url = None

    def url(self):
        """The embed URL of the run page (a fresh ticket per widget)."""
        if self._url is None:
            client = self.run_instance._client
            rec = client.post("/api/studio/embed", {"run_id": self.run_instance.id})
            self._url = client.base_url + rec["path"]
        return self._url

    def _iframe(self):
        url = self.url()
        return ('<iframe src="%s" width="100%%" height="%d" frameborder="0" '
                'style="border:1px solid #dde3ea;border-radius:6px" '
                'title="kyanite run %s"></iframe>'
                '<div style="font-size:12px;margin-top:2px"><a href="%s" target="_blank" '
                'rel="noopener">Open in a new tab</a></div>' % (
                    html.escape(url, quote=True), self.height, html.escape(self.run_instance.id),
                    html.escape(url, quote=True)))

    def show(self):
        """Display the run page in the notebook; outside a notebook, print its address."""
        try:
            from IPython.display import HTML, display
        except ImportError:
            print("Run page: %s" % self.url())
            return None
        display(HTML(self._iframe()))
        return None

    def _repr_html_(self):
        return self._iframe()

    def get_widget_data(self, widget_settings=None):
        run = self.run_instance
        return {"run": run.get_details(), "metrics": run.get_metrics(), "url": self.url()}

    def __repr__(self):
        return "RunDetails(run=%s, page=%s)" % (self.run_instance.id, self.url())

"""A progress bar over queries spent: tqdm when it is installed, a silent stand-in otherwise."""


class _NoBar:
    def update(self, n=1):
        pass

    def set_postfix(self, **kwargs):
        pass

    def close(self):
        pass


def progress_bar(total, initial=0, enabled=True, desc="queries"):
    """A bar counting queries, or a do-nothing object when disabled or tqdm is missing."""
    if not enabled:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, initial=initial, desc=desc, unit="img", dynamic_ncols=True)

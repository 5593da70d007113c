"""Where market data comes from: one seam (`MarketSource`), two implementations.

`akshare_source.AkshareSource` calls the real vendors; `sample.SampleMarket` is a
deterministic offline market. Both return raw frames in akshare's shape, and `normalize`
turns those into canonical frames, so the sample market exercises production mapping code.
"""

from quantdb_pipeline.sources.base import HkFactorFrames, ListingFrames, MarketSource

__all__ = ["HkFactorFrames", "ListingFrames", "MarketSource"]

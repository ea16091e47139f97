"""The image step, and the only Pillow importer: bytes in, an upload and a preview out.

``pipeline.prepare`` turns one scan into an image within LivePerson's limits and a preview;
``formats`` sniffs content and reads its structure; ``metadata`` and ``gif_metadata`` strip
metadata losslessly and read orientation; ``plan`` decides the size and encoding.
"""

"""Images: references and mirrors, the node's content-addressed cache, and building images."""

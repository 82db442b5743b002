//! [`FrameSocket`]: raw frames over a blocking `Read + Write` stream, a
//! driver over the sans-I/O [`FrameDecoder`](crate::frame::FrameDecoder).

use std::io::{self, Read, Write};

use crate::config::Limits;
use crate::error::Error;
use crate::frame::{Decoded, Frame, FrameDecoder, MaskSource, RandomMask, Role};
use crate::handshake::{ClientRequest, Request, Response, ServerConfig};

const READ_CHUNK: usize = 16 * 1024;

/// Sends and receives whole frames over a stream whose opening handshake is
/// done. Control frames are not answered and fragments are not joined:
/// this is the raw frame level.
///
/// A client-role socket masks every frame it sends, with the frame's own
/// key if set, else one from its [`MaskSource`]. A server-role socket sends
/// frames unmasked unless the frame carries a key.
///
/// ```no_run
/// use std::net::TcpStream;
/// use wsstack::frame::Frame;
/// use wsstack::FrameSocket;
/// use wsstack::handshake::ClientRequest;
///
/// let request = ClientRequest::new("ws://127.0.0.1:8000/my/path")?;
/// let tcp = TcpStream::connect(request.address())?;
/// let (mut socket, _response) = FrameSocket::connect(tcp, &request)?;
/// socket.send(&Frame::text("Hello, Server!"))?;
/// let reply = socket.recv()?;
/// # Ok::<(), wsstack::Error>(())
/// ```
pub struct FrameSocket<S> {
    stream: S,
    decoder: FrameDecoder,
    mask_source: Box<dyn MaskSource>,
    /// Received bytes; `buf[start..filled]` is not yet decoded.
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    out: Vec<u8>,
}

impl<S: Read + Write> FrameSocket<S> {
    /// Wrap a stream whose handshake is already done.
    pub fn new(stream: S, role: Role, limits: &Limits) -> FrameSocket<S> {
        FrameSocket::with_buffered(stream, role, limits, Vec::new())
    }

    /// Wrap a stream whose handshake is already done, with bytes that were
    /// read past the end of the handshake (they are decoded first).
    pub fn with_buffered(
        stream: S,
        role: Role,
        limits: &Limits,
        buffered: Vec<u8>,
    ) -> FrameSocket<S> {
        let filled = buffered.len();
        FrameSocket {
            stream,
            decoder: FrameDecoder::new(role, limits.max_frame_size),
            mask_source: Box::new(RandomMask),
            buf: buffered,
            start: 0,
            filled,
            out: Vec::new(),
        }
    }

    /// Run the server side of the opening handshake on `stream` and return
    /// the upgraded socket with the request the client sent.
    pub fn accept(stream: S, config: &ServerConfig) -> Result<(FrameSocket<S>, Request), Error> {
        let up = super::accept(stream, config)?;
        let socket =
            FrameSocket::with_buffered(up.stream, Role::Server, &config.limits, up.buffered);
        Ok((socket, up.request))
    }

    /// Run the client side of the opening handshake on `stream` and return
    /// the upgraded socket with the server's response.
    pub fn connect(
        stream: S,
        request: &ClientRequest,
    ) -> Result<(FrameSocket<S>, Response), Error> {
        let up = super::connect(stream, request)?;
        let socket =
            FrameSocket::with_buffered(up.stream, Role::Client, &request.limits, up.buffered);
        Ok((socket, up.response))
    }

    /// Replace the source of masking keys (tests inject a
    /// [`FixedMask`](crate::frame::FixedMask)).
    pub fn set_mask_source(&mut self, source: Box<dyn MaskSource>) {
        self.mask_source = source;
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.decoder.role()
    }

    /// Encode and write one frame, then flush.
    ///
    /// Refuses ([`Error::InvalidSend`]) a control frame over 125 bytes or
    /// without FIN, which no peer would accept.
    pub fn send(&mut self, frame: &Frame) -> Result<(), Error> {
        frame.validate().map_err(Error::InvalidSend)?;
        self.out.clear();
        if self.role() == Role::Client && frame.mask.is_none() {
            let mut header = frame.header();
            let key = self.mask_source.next_key();
            header.mask = Some(key);
            header.write_to(&mut self.out);
            let start = self.out.len();
            self.out.extend_from_slice(&frame.payload);
            crate::frame::apply_mask(&mut self.out[start..], key, 0);
        } else {
            frame.encode(&mut self.out);
        }
        self.stream.write_all(&self.out)?;
        self.stream.flush()?;
        Ok(())
    }

    /// Read until one whole frame has arrived and return it (payload
    /// unmasked).
    ///
    /// Returns [`Error::ConnectionClosed`] if the stream ends between
    /// frames, an `UnexpectedEof` I/O error if it ends inside one, and
    /// [`Error::Frame`] for a frame that breaks the rules or the size limit
    /// (detected from the header, before its payload is read).
    pub fn recv(&mut self) -> Result<Frame, Error> {
        loop {
            let pending = &self.buf[self.start..self.filled];
            if let Decoded::Frame { frame, consumed } = self.decoder.decode(pending)? {
                self.start += consumed;
                return Ok(frame);
            }
            self.fill()?;
        }
    }

    /// Read more bytes, growing the buffer to fit the frame being received.
    fn fill(&mut self) -> Result<(), Error> {
        if self.start == self.filled {
            self.start = 0;
            self.filled = 0;
        }
        // The header (if complete) says how much the frame needs; the
        // decoder has already checked it against the limit.
        let pending = &self.buf[self.start..self.filled];
        let need = match self.decoder.decode_header(pending)? {
            Some((h, len)) => len + h.payload_len as usize,
            None => crate::frame::MAX_HEADER_LEN,
        };
        if self.start + need > self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.filled, 0);
            self.filled -= self.start;
            self.start = 0;
        }
        let want = (self.start + need).max(self.filled + READ_CHUNK);
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        let n = loop {
            match self.stream.read(&mut self.buf[self.filled..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::Io(e)),
            }
        };
        if n == 0 {
            return Err(if self.start == self.filled {
                Error::ConnectionClosed
            } else {
                Error::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "stream ended inside a frame",
                ))
            });
        }
        self.filled += n;
        Ok(())
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The underlying stream, mutably. Reading from it directly loses frame
    /// sync.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Give back the stream and the received bytes not yet decoded.
    pub fn into_parts(self) -> (S, Vec<u8>) {
        let rest = self.buf[self.start..self.filled].to_vec();
        (self.stream, rest)
    }
}

impl<S> std::fmt::Debug for FrameSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameSocket")
            .field("role", &self.decoder.role())
            .field("buffered", &(self.filled - self.start))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{FixedMask, FrameError, OpCode};
    use std::io::Cursor;

    /// An in-memory duplex: reads from `input`, writes to `output`, at most
    /// `chunk` bytes per read.
    struct Pipe {
        input: Cursor<Vec<u8>>,
        output: Vec<u8>,
        chunk: usize,
    }

    impl Read for Pipe {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.chunk);
            self.input.read(&mut buf[..n])
        }
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.output.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn pipe(input: Vec<u8>, chunk: usize) -> Pipe {
        Pipe {
            input: Cursor::new(input),
            output: Vec::new(),
            chunk,
        }
    }

    #[test]
    fn client_masks_with_injected_key_and_server_reads_it() {
        let mut client = FrameSocket::new(pipe(vec![], 1), Role::Client, &Limits::default());
        client.set_mask_source(Box::new(FixedMask([0x37, 0xfa, 0x21, 0x3d])));
        client.send(&Frame::text("Hello")).unwrap();
        let wire = client.get_ref().output.clone();
        assert_eq!(
            wire,
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        for chunk in [1, 3, 4096] {
            let mut server =
                FrameSocket::new(pipe(wire.clone(), chunk), Role::Server, &Limits::default());
            let frame = server.recv().unwrap();
            assert_eq!(
                (frame.opcode, &frame.payload[..]),
                (OpCode::Text, &b"Hello"[..])
            );
            assert!(matches!(server.recv(), Err(Error::ConnectionClosed)));
        }
    }

    #[test]
    fn large_frames_and_buffered_bytes() {
        let mut wire = Vec::new();
        Frame::binary(vec![7u8; 1 << 20]).encode(&mut wire);
        Frame::text("after").encode(&mut wire);
        let (head, tail) = wire.split_at(5);
        let mut client = FrameSocket::with_buffered(
            pipe(tail.to_vec(), 10_000),
            Role::Client,
            &Limits::default(),
            head.to_vec(),
        );
        assert_eq!(client.recv().unwrap().payload.len(), 1 << 20);
        assert_eq!(client.recv().unwrap().payload, b"after");
    }

    #[test]
    fn eof_inside_a_frame_and_oversized_frames_are_errors() {
        let mut wire = Vec::new();
        Frame::text("Hello").encode(&mut wire);
        wire.truncate(4);
        let mut client = FrameSocket::new(pipe(wire, 4096), Role::Client, &Limits::default());
        match client.recv() {
            Err(Error::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof),
            other => panic!("expected UnexpectedEof, got {other:?}"),
        }
        let limits = Limits::default().with_max_frame_size(1000);
        let mut client = FrameSocket::new(
            pipe(vec![0x82, 0x7F, 0, 0, 0, 1, 0, 0, 0, 0], 4096),
            Role::Client,
            &limits,
        );
        assert!(matches!(
            client.recv(),
            Err(Error::Frame(FrameError::FrameTooLarge { .. }))
        ));
    }

    #[test]
    fn invalid_control_frames_are_refused_on_send() {
        let mut s = FrameSocket::new(pipe(vec![], 1), Role::Server, &Limits::default());
        assert!(matches!(
            s.send(&Frame::ping(vec![0; 126])),
            Err(Error::InvalidSend(FrameError::ControlFrameTooLong { .. }))
        ));
        assert!(s.get_ref().output.is_empty());
    }
}

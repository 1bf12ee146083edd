//! Just enough HTTP/1.1 for the test servers: one message (request or response) at a time off a
//! kept-alive connection, framed by Content-Length.

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// One message as it came: its head (start line and headers) and the whole raw bytes.
pub struct Message {
    pub head: String,
    pub raw: Vec<u8>,
    body_start: usize,
}

impl Message {
    /// The value of a header, any case of its name.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }

    /// Method and path, from a request's start line.
    pub fn target(&self) -> (&str, &str) {
        let mut words = self.head.split_whitespace();
        (words.next().unwrap_or(""), words.next().unwrap_or(""))
    }

    pub fn body(&self) -> &[u8] {
        &self.raw[self.body_start..]
    }
}

/// The next message on `socket`; `None` once the peer closes. `buffer` keeps what was read past it.
pub async fn read_message(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Message> {
    let header_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        fill(socket, buffer).await?;
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).into_owned();
    let mut message = Message {
        head,
        raw: Vec::new(),
        body_start: header_end,
    };
    let length: usize = message
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < header_end + length {
        fill(socket, buffer).await?;
    }
    message.raw = buffer.drain(..header_end + length).collect();
    Some(message)
}

async fn fill(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 4096];
    match socket.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buffer.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}

using System.Buffers;
using System.Globalization;
using System.Text;

namespace AgentSessions.Functions.Events;

/// <summary>One Server-Sent Event: an optional <c>id</c> line, the <c>event</c> name and its JSON data (UTF-8).</summary>
public sealed record SseFrame(long? Id, string Event, byte[] Data);

/// <summary>
/// Writes frames to a response body in the <c>text/event-stream</c> format and flushes after each write, so every
/// event reaches the client as soon as it is known (the body may be proxied by the Functions host).
/// </summary>
public sealed class SseWriter(Stream body)
{
    private static readonly byte[] IdPrefix = "id: "u8.ToArray();
    private static readonly byte[] EventPrefix = "event: "u8.ToArray();
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();

    /// <summary>
    /// Writes <paramref name="frames"/> and flushes once. Frames that belong together (a <c>step</c> and the message
    /// it introduces, which share an id) are passed together so a client never gets one without the other.
    /// </summary>
    public async Task WriteAsync(IReadOnlyList<SseFrame> frames, CancellationToken cancellationToken)
    {
        if (frames.Count == 0)
        {
            return;
        }

        var buffer = new ArrayBufferWriter<byte>(256);
        foreach (var frame in frames)
        {
            Format(frame, buffer);
        }

        await body.WriteAsync(buffer.WrittenMemory, cancellationToken);
        await body.FlushAsync(cancellationToken);
    }

    public Task WriteAsync(SseFrame frame, CancellationToken cancellationToken) => WriteAsync([frame], cancellationToken);

    /// <summary>
    /// Writes one comment line (<c>: text</c>) and flushes. Every event-stream parser ignores comments; with no blank
    /// line after it, not even a naive parser sees an empty event.
    /// </summary>
    public async Task WriteCommentAsync(string text, CancellationToken cancellationToken)
    {
        if (text.Contains('\n') || text.Contains('\r'))
        {
            throw new ArgumentException("A comment is one line.", nameof(text));
        }

        await body.WriteAsync(Encoding.UTF8.GetBytes($": {text}\n"), cancellationToken);
        await body.FlushAsync(cancellationToken);
    }

    /// <summary>The wire text of one frame, ending with the blank line that dispatches it.</summary>
    public static void Format(SseFrame frame, IBufferWriter<byte> output)
    {
        if (frame.Id is { } id)
        {
            output.Write(IdPrefix);
            Write(output, id.ToString(CultureInfo.InvariantCulture));
            output.Write("\n"u8);
        }

        output.Write(EventPrefix);
        Write(output, frame.Event);
        output.Write("\n"u8);

        // Serialized JSON has no raw line breaks; should data ever hold one, each line gets its own "data:" field,
        // which a client joins back with "\n" as the format defines.
        var data = frame.Data.AsSpan();
        while (true)
        {
            var end = data.IndexOf((byte)'\n');
            output.Write(DataPrefix);
            output.Write(end < 0 ? data : data[..end].TrimEnd((byte)'\r'));
            output.Write("\n"u8);
            if (end < 0)
            {
                break;
            }

            data = data[(end + 1)..];
        }

        output.Write("\n"u8);
    }

    private static void Write(IBufferWriter<byte> output, string text) => output.Write(Encoding.UTF8.GetBytes(text));
}

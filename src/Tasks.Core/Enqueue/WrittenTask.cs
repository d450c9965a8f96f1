using System;

namespace Tasks;

/// <summary>
/// A task's envelope written and its size checked, with its record made (null without a record store): what a send,
/// now or later from an outbox, needs. <see cref="UniqueLock"/> is set when the task is unique on this enqueue, until <see cref="UniqueUntil"/>.
/// </summary>
internal readonly record struct WrittenTask(string Name, string Queue, string Id, ReadOnlyMemory<byte> Envelope, RecordWrite? Record, string? UniqueLock, DateTimeOffset? UniqueUntil);
